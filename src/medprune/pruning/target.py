"""Pruning targets (`sparsity=0.9`, `macs=0.5`, `params=0.25`, `latency=0.5`) and schedules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from medprune.errors import ConfigError

TargetKind = Literal["sparsity", "macs", "params", "latency"]
KINDS = ("sparsity", "macs", "params", "latency")


@dataclass(frozen=True)
class Target:
    """`sparsity` is the fraction of weights set to zero; the others the fraction of the dense model kept."""

    kind: TargetKind
    value: float

    @classmethod
    def parse(cls, text: str) -> Target:
        match = re.fullmatch(r"\s*([a-z]+)\s*=\s*([0-9.eE+-]+)\s*", text or "")
        if not match or match[1] not in KINDS:
            raise ConfigError(f"target '{text}' is not understood: write sparsity=0.9, macs=0.5, params=0.25 or "
                              "latency=0.5")
        try:
            value = float(match[2])
        except ValueError:
            raise ConfigError(f"target '{text}' has no number: write e.g. macs=0.5") from None
        if not 0 < value <= 1:
            raise ConfigError(f"target {match[1]}={value} is outside (0, 1]: give the fraction "
                              f"{'of weights to zero' if match[1] == 'sparsity' else 'of the dense model to keep'}, "
                              "e.g. 0.5")
        return cls(match[1], value)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}={self.value:g}"

    def at_fraction(self, progress: float) -> Target:
        """The target after `progress` (0..1) of the way from the dense model."""
        if self.kind == "sparsity":
            return Target(self.kind, self.value * progress)
        return Target(self.kind, 1 - (1 - self.value) * progress)


@dataclass(frozen=True)
class Schedule:
    """oneshot, iterative:K[:linear|cubic] (K prune-then-fine-tune steps), or until-tolerance."""

    kind: Literal["oneshot", "iterative", "until-tolerance"]
    steps: int = 1
    ramp: Literal["linear", "cubic"] = "linear"

    @classmethod
    def parse(cls, text: str) -> Schedule:
        text = (text or "").strip()
        if text in ("oneshot", "until-tolerance"):
            return cls(text)  # type: ignore[arg-type]
        match = re.fullmatch(r"iterative:(\d+)(?::(linear|cubic))?", text)
        if not match or int(match[1]) < 1:
            raise ConfigError(f"schedule '{text}' is not understood: use oneshot, iterative:K (e.g. iterative:4, "
                              "iterative:4:cubic) or until-tolerance")
        return cls("iterative", int(match[1]), match[2] or "linear")  # type: ignore[arg-type]

    def progress(self, step: int) -> float:
        """Fraction of the way to the final target after `step` of `steps` (Zhu & Gupta 2017 for cubic)."""
        x = step / self.steps
        return 1 - (1 - x) ** 3 if self.ramp == "cubic" else x

    def target_at(self, target: Target, step: int) -> Target:
        """What step `step` prunes to: the final target in one shot, else its share of the way there."""
        return target if self.kind == "oneshot" else target.at_fraction(self.progress(step))

    def __str__(self) -> str:
        if self.kind == "iterative":
            return f"iterative:{self.steps}:{self.ramp}"
        return self.kind
