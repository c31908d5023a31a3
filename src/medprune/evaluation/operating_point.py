"""Validation figures at a fixed decision threshold, and the guard that keeps fine-tuning at the reference's
operating point.

`validate` judges a compressed model at the reference's threshold, so every fine-tuning medprune runs
(`prune`, `search`'s final fine-tune, every technique of a recipe) picks its epoch the same way: best
validation AUROC among the epochs whose validation sensitivity and specificity at that threshold stay within
a margin of the reference's. An epoch that moves the operating point is never kept for its AUROC alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from medprune.data.dataset import Dataset
from medprune.errors import ConfigError
from medprune.evaluation.metrics import compute_auroc, compute_confusion_rates
from medprune.evaluation.predict import positive_or_all, predict_proba

AT_THRESHOLD = ("sensitivity", "specificity", "ppv", "npv")


def figures_at_threshold(y: np.ndarray, probs: np.ndarray, threshold: float | None) -> dict[str, Any]:
    """AUROC from softmax `probs`, and with a threshold (binary tasks) the rates of calling P(positive) >=
    threshold positive."""
    scores = positive_or_all(probs)
    out: dict[str, Any] = {"auroc": compute_auroc(y, scores)}
    if threshold is not None:
        rates = compute_confusion_rates(y, (scores >= threshold).astype(int))
        out.update({k: float(rates[k]) for k in AT_THRESHOLD})
    return out


def check_operating_margin(margin: float, flag: str = "operating margin") -> float:
    if not 0 < margin <= 1:
        raise ConfigError(f"{flag} must be in (0, 1], got {margin:g}: 0.05 allows a drop of 5 points; 1 turns "
                          "the guard off")
    return margin


class OperatingPointGuard:
    """Model selection by validation AUROC, where an epoch whose validation sensitivity or specificity at the
    reference threshold falls more than `margin` below the reference's ranks below every epoch that keeps both."""

    def __init__(self, y: np.ndarray, reference_probs: np.ndarray, threshold: float, margin: float) -> None:
        self.threshold, self.margin = threshold, check_operating_margin(margin)
        reference = figures_at_threshold(y, reference_probs, threshold)
        self.sensitivity, self.specificity = reference["sensitivity"], reference["specificity"]
        self.kept_any = False

    @classmethod
    def of(cls, reference: nn.Module, dataset: Dataset, threshold: float | None,
           margin: float) -> OperatingPointGuard | None:
        """The guard on `dataset`'s validation split, or None where there is no operating point (multi-class)
        or it is turned off (margin 1)."""
        if threshold is None or check_operating_margin(margin) >= 1:
            return None
        val = dataset.split("val")
        return cls(val.y, predict_proba(reference, val, dataset.preprocessing), threshold, margin)

    def keeps(self, figures: dict[str, Any]) -> bool:
        return (figures["sensitivity"] >= self.sensitivity - self.margin
                and figures["specificity"] >= self.specificity - self.margin)

    def score(self, y: np.ndarray, probs: np.ndarray) -> float:
        """Validation AUROC, less 1 where the operating point moved beyond the margin (higher is better)."""
        figures = figures_at_threshold(y, probs, self.threshold)
        kept = self.keeps(figures)
        self.kept_any |= kept
        return figures["auroc"] - (0.0 if kept else 1.0)

    def said(self) -> str:
        where = "among the epochs keeping" if self.kept_any else "no epoch kept"
        return (f", {where} validation sensitivity and specificity at the reference threshold within "
                f"{self.margin:g} of the reference's {self.sensitivity:.3f} / {self.specificity:.3f}")
