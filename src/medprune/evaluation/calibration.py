"""Calibration: expected calibration error with equal-mass bins, and the Brier score."""

from __future__ import annotations

import numpy as np
from scipy import stats


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
    n = len(confidence)
    n_bins = min(n_bins, n)
    # Equal-mass bins by rank; tied probabilities share the bin of their lowest rank, so the result
    # never depends on the order of the cases.
    first_rank = stats.rankdata(confidence, method="min") - 1
    bins = (first_rank * n_bins) // n
    total = 0.0
    for b in np.unique(bins):
        members = bins == b
        total += members.sum() / n * abs(event[members].mean() - confidence[members].mean())
    return float(total)


def compute_brier(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Brier score: mean squared error of the probabilities (multi-class: summed over classes)."""
    y_true = np.asarray(y_true)
    if y_prob.ndim == 1:
        return float(np.mean((y_prob - (y_true == 1)) ** 2))
    onehot = np.eye(y_prob.shape[1])[y_true]
    return float(np.mean(np.sum((y_prob - onehot) ** 2, axis=1)))


def compute_calibration_slope_intercept(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[float, float]:
    """Calibration slope and calibration-in-the-large (Cox 1958; Van Calster et al. 2016). Ideal: 1 and 0.

    The slope comes from regressing the outcome on logit(p); slope < 1 means predictions are too
    extreme (over-confident). The intercept is calibration-in-the-large: the intercept of the logistic
    model with logit(p) as an offset (slope fixed at 1), so it measures whether predictions are too high
    (negative) or too low (positive) on average. Binary only.
    """
    y_true = np.asarray(y_true)
    if y_prob.ndim != 1 or len(np.unique(y_true)) < 2:
        return float("nan"), float("nan")
    logit = _logit(y_prob)
    slope = _fit_logistic(logit, y_true)[1]
    intercept = _fit_logistic(logit, y_true, offset=True)[0]
    return slope, intercept


def _logit(y_prob: np.ndarray) -> np.ndarray:
    p = np.clip(y_prob, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _fit_logistic(logit: np.ndarray, y: np.ndarray, *, offset: bool = False) -> tuple[float, float]:
    """Unpenalised maximum likelihood of P(y) = sigmoid(a + b * logit); with `offset`, b is fixed at 1."""
    from scipy.optimize import minimize

    def nll(params: np.ndarray) -> float:
        eta = params[0] + (logit if offset else params[1] * logit)
        return float(np.sum(np.logaddexp(0, eta) - y * eta))

    start = np.zeros(1) if offset else np.array([0.0, 1.0])
    fit = minimize(nll, start, method="BFGS", options={"gtol": 1e-10})
    return (float(fit.x[0]), 1.0) if offset else (float(fit.x[0]), float(fit.x[1]))


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
