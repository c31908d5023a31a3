"""Fast candidate scoring: recalibrate BatchNorm on a few training batches (adaptive BN, EagleEye 2020),
then the clinical objective on validation and the constraints at the reference threshold."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from medprune.errors import ConfigError
from medprune.evaluation.metrics import compute_auroc
from medprune.evaluation.operating_point import figures_at_threshold
from medprune.evaluation.predict import positive_or_all
from medprune.hardware.device import device_of

REQUIRABLE = ("sensitivity", "specificity", "ppv", "npv", "auroc")


@dataclass(frozen=True)
class Objective:
    """`auroc`, or `sens@spec=0.9`: the sensitivity reachable at a specificity of at least 0.9; `dice`: a segmentation
    model's validation mean Dice (scored by the evaluator, over sliding windows)."""

    kind: str
    level: float | None = None

    @classmethod
    def parse(cls, text: str) -> Objective:
        text = (text or "").strip()
        if text in ("auroc", "dice"):
            return cls(text)
        match = re.fullmatch(r"sens@spec=([0-9.]+)", text)
        if match and 0 < float(match[1]) < 1:
            return cls("sens@spec", float(match[1]))
        raise ConfigError(f"objective '{text}' is not understood: use auroc or sens@spec=0.9 (dice for segmentation)")

    def __str__(self) -> str:
        return self.kind if self.level is None else f"{self.kind}={self.level:g}"

    def __call__(self, y: np.ndarray, scores: np.ndarray) -> float:
        if self.kind == "auroc":
            return compute_auroc(y, scores)
        from sklearn.metrics import roc_curve

        fpr, tpr, _ = roc_curve(y, scores)
        return float(tpr[fpr <= 1 - self.level + 1e-12].max())


@dataclass(frozen=True)
class Requirement:
    """A constraint on validation, e.g. `sensitivity>=0.95` at the reference threshold."""

    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Requirement:
        match = re.fullmatch(r"\s*([a-z]+)\s*(>=|<=)\s*([0-9.]+)\s*", text or "")
        if not match or match[1] not in REQUIRABLE:
            raise ConfigError(f"requirement '{text}' is not understood: write e.g. sensitivity>=0.95 (metrics: "
                              f"{', '.join(REQUIRABLE)})")
        return cls(match[1], match[2], float(match[3]))

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"

    def met(self, metrics: dict[str, float]) -> bool:
        value = metrics[self.metric]
        return value >= self.value if self.op == ">=" else value <= self.value


@torch.no_grad()
def validation_figures(model: nn.Module, x: torch.Tensor, y: np.ndarray, threshold: float | None,
                       objective: Objective) -> dict[str, Any]:
    model.eval()
    device = device_of(model)
    probs = torch.cat([torch.softmax(model(chunk.to(device)), 1).cpu() for chunk in x.split(256)]).double().numpy()
    return figures_of(y, probs, threshold, objective)


def figures_of(y: np.ndarray, probs: np.ndarray, threshold: float | None, objective: Objective) -> dict[str, Any]:
    """The objective, AUROC and (with a threshold) the rates at it, from validation softmax `probs`."""
    return {"objective": objective(y, positive_or_all(probs)), **figures_at_threshold(y, probs, threshold)}
