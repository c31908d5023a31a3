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


def compute_calibration_slope_intercept(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[float, float]:
    """Logistic recalibration (Cox 1958): regress the outcome on logit(p). Ideal: slope 1, intercept 0.

    Slope < 1 means predictions are too extreme (over-confident). Binary only.
    """
    from sklearn.linear_model import LogisticRegression

    y_true = np.asarray(y_true)
    if y_prob.ndim != 1 or len(np.unique(y_true)) < 2:
        return float("nan"), float("nan")
    p = np.clip(y_prob, 1e-7, 1 - 1e-7)
    logit = np.log(p / (1 - p)).reshape(-1, 1)
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(logit, y_true)  # effectively unpenalised
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def fit_temperature(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Temperature T minimising the validation negative log-likelihood of softmax(logits / T) (Guo et al. 2017)."""
    from scipy.optimize import minimize_scalar

    logits = np.log(np.clip(probs, 1e-12, None))
    y_true = np.asarray(y_true)

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(y_true)), y_true].mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    z = np.log(np.clip(probs, 1e-12, None)) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
