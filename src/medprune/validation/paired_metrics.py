"""Metrics as functions of (draw counts, predictions), so one call gives every bootstrap resample.

Called with a single row of ones, a function gives the plain estimate on the test set; called with
the (B, N) count matrix of `stratified_counts`, it gives B resampled values, paired across models
because every model is scored on the same resampled cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from medprune.evaluation.bootstrap import macro_auroc, weighted_rate
from medprune.registry import Registry


@dataclass(frozen=True)
class Predictions:
    """One model's test-set output: class probabilities and, for binary tasks, the decision threshold."""

    probs: np.ndarray  # (N, K)
    threshold: float | None

    @property
    def scores(self) -> np.ndarray:
        return self.probs[:, 1] if self.probs.shape[1] == 2 else self.probs

    @property
    def predicted(self) -> np.ndarray:
        if self.probs.shape[1] == 2:
            return (self.probs[:, 1] >= self.threshold).astype(int)
        return self.probs.argmax(axis=1)


MetricFn = Callable[[np.ndarray, Predictions, np.ndarray], np.ndarray]
PAIRED_METRICS: Registry[MetricFn] = Registry("metric")


def _macro_rate(y: np.ndarray, pred: np.ndarray, counts: np.ndarray, positive: bool) -> np.ndarray:
    classes = np.unique(y)
    rates = [weighted_rate(pred == k, y == k, counts) if positive else weighted_rate(pred != k, y != k, counts)
             for k in classes]
    return np.nanmean(rates, axis=0)


@PAIRED_METRICS.register("auroc")
def auroc(y: np.ndarray, p: Predictions, counts: np.ndarray) -> np.ndarray:
    return macro_auroc(y, p.scores, counts)


@PAIRED_METRICS.register("sensitivity")
def sensitivity(y: np.ndarray, p: Predictions, counts: np.ndarray) -> np.ndarray:
    if p.probs.shape[1] == 2:
        return weighted_rate(p.predicted == 1, y == 1, counts)
    return _macro_rate(y, p.predicted, counts, positive=True)


@PAIRED_METRICS.register("specificity")
def specificity(y: np.ndarray, p: Predictions, counts: np.ndarray) -> np.ndarray:
    if p.probs.shape[1] == 2:
        return weighted_rate(p.predicted == 0, y == 0, counts)
    return _macro_rate(y, p.predicted, counts, positive=False)


@PAIRED_METRICS.register("ppv")
def ppv(y: np.ndarray, p: Predictions, counts: np.ndarray) -> np.ndarray:
    return weighted_rate(y == 1, p.predicted == 1, counts)


@PAIRED_METRICS.register("npv")
def npv(y: np.ndarray, p: Predictions, counts: np.ndarray) -> np.ndarray:
    return weighted_rate(y == 0, p.predicted == 0, counts)


@PAIRED_METRICS.register("accuracy")
def accuracy(y: np.ndarray, p: Predictions, counts: np.ndarray) -> np.ndarray:
    return weighted_rate(p.predicted == y, np.ones_like(y, dtype=bool), counts)


@PAIRED_METRICS.register("balanced_accuracy")
def balanced_accuracy(y: np.ndarray, p: Predictions, counts: np.ndarray) -> np.ndarray:
    return _macro_rate(y, p.predicted, counts, positive=True)


BINARY_ONLY = ("ppv", "npv")
