"""Calibration: expected calibration error with equal-mass bins, and the Brier score."""

from __future__ import annotations

import numpy as np


def _event_and_confidence(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Binary: calibration of P(positive), the probability a clinician reads. Multi-class: top-label.
    if y_prob.ndim == 1:
        return (np.asarray(y_true) == 1).astype(float), y_prob
    top = y_prob.argmax(axis=1)
    return (top == np.asarray(y_true)).astype(float), y_prob.max(axis=1)


def compute_ece(y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error over equal-mass bins (Nixon et al. 2019, "adaptive" ECE).

    Equal-mass bins keep every bin populated when probabilities crowd near 0 or 1, as they do
    for confident medical classifiers.
    """
    event, confidence = _event_and_confidence(y_true, y_prob)
    order = np.argsort(confidence, kind="stable")
    bins = np.array_split(order, min(n_bins, len(order)))
    n = len(order)
    return float(sum(len(b) / n * abs(event[b].mean() - confidence[b].mean()) for b in bins if len(b)))


def compute_brier(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Brier score: mean squared error of the probabilities (multi-class: summed over classes)."""
    y_true = np.asarray(y_true)
    if y_prob.ndim == 1:
        return float(np.mean((y_prob - (y_true == 1)) ** 2))
    onehot = np.eye(y_prob.shape[1])[y_true]
    return float(np.mean(np.sum((y_prob - onehot) ** 2, axis=1)))
