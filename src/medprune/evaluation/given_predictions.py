"""Checking predictions a user brings (labels and probabilities from their own pipeline) at the door.

Everything downstream trusts its inputs, so the checks live here once: shapes, finite probabilities in
[0, 1], labels that are class indices, and the binary positive (disease) class held at index 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medprune.errors import ConfigError, DataError


@dataclass(frozen=True)
class CheckedPredictions:
    y_true: np.ndarray  # (N,) int class indices, positive class at 1 for binary tasks
    class_names: list[str]
    flipped: bool  # the user's positive class was index 0: labels and columns were swapped

    def probs(self, y_prob: np.ndarray) -> np.ndarray:
        """The (N, K) probabilities in the checked class order."""
        return y_prob[:, ::-1].copy() if self.flipped else y_prob


def as_probabilities(y_prob, n_cases: int, what: str) -> np.ndarray:
    """(N,) P(positive) or (N, K) class probabilities as a checked (N, K) float array."""
    probs = np.asarray(y_prob, dtype=float)
    if probs.ndim == 1:
        probs = np.column_stack([1 - probs, probs])
    if probs.ndim != 2 or probs.shape[0] != n_cases or probs.shape[1] < 2:
        raise DataError(f"{what} has shape {np.shape(y_prob)}: give (N,) probabilities of the positive class or (N, K) "
                        f"class probabilities for the {n_cases} cases of y_true")
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        raise DataError(f"{what} holds NaN or infinite values in {int(bad.sum())} cases (first: case "
                        f"{int(np.flatnonzero(bad)[0])}): every case needs a probability")
    if probs.min() < 0 or probs.max() > 1:
        raise DataError(f"{what} holds values outside [0, 1] (from {probs.min():g} to {probs.max():g}): pass "
                        "probabilities (softmax or sigmoid outputs), not logits")
    return probs


def check_labels_and_classes(y_true, n_classes: int, class_names: list[str] | None,
                             positive_class: str | int | None) -> CheckedPredictions:
    """Labels as class indices, class names, and for binary tasks the positive class moved to index 1."""
    y = np.asarray(y_true)
    if y.ndim != 1 or len(y) == 0:
        raise DataError(f"y_true has shape {y.shape}: give one class index per case")
    if not np.issubdtype(y.dtype, np.integer):
        if not (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y))):
            raise DataError(f"y_true has dtype {y.dtype}: labels must be class indices 0..K-1")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= n_classes:
        raise DataError(f"y_true holds the label {int(y[(y < 0) | (y >= n_classes)][0])} but the probabilities have "
                        f"{n_classes} columns: labels must be in 0..{n_classes - 1}")
    names = [str(n) for n in class_names] if class_names is not None else [str(k) for k in range(n_classes)]
    if len(names) != n_classes or len(set(names)) != n_classes:
        raise ConfigError(f"class_names {names} must name each of the {n_classes} classes once")
    if n_classes != 2:
        if positive_class is not None:
            raise ConfigError("positive_class applies to binary tasks; these predictions have "
                              f"{n_classes} classes")
        return CheckedPredictions(y, names, flipped=False)
    if positive_class is None:
        raise ConfigError(f"name the disease (positive) class with positive_class= one of {names} (or its index): "
                          "sensitivity and every binary metric are about it")
    index = names.index(str(positive_class)) if str(positive_class) in names else positive_class
    if index not in (0, 1):
        raise ConfigError(f"positive_class {positive_class!r} is not one of {names} or an index 0 / 1")
    if index == 1:
        return CheckedPredictions(y, names, flipped=False)
    return CheckedPredictions(1 - y, names[::-1], flipped=True)


def check_threshold(threshold: float | None, n_classes: int) -> float | None:
    if n_classes != 2:
        if threshold is not None:
            raise ConfigError("threshold applies to binary tasks; multi-class predictions decide by the largest "
                              "probability")
        return None
    if threshold is None:
        raise ConfigError("pass threshold=: the decision threshold on P(positive) the reference is used at, chosen on "
                          "validation data (e.g. medprune.choose_threshold(y_val, p_val)), never on the test cases")
    if not 0 <= threshold <= 1:
        raise ConfigError(f"threshold must be a probability in [0, 1], got {threshold:g}")
    return float(threshold)
