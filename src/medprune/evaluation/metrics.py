"""Clinical classification metrics as plain functions of (y_true, y_prob).

Binary: y_prob is P(positive class), shape (N,). Multi-class: y_prob is (N, K) and AUROC is the
macro one-vs-rest average (the MedMNIST convention).
"""

from __future__ import annotations

import numpy as np

from medprune.errors import ConfigError, DataError


def _safe_div(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def compute_auroc(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Binary AUROC, or macro one-vs-rest AUROC over the classes present."""
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true)
    if y_prob.ndim == 1:
        return float(roc_auc_score(y_true, y_prob)) if len(np.unique(y_true)) == 2 else float("nan")
    scores = [roc_auc_score(y_true == k, y_prob[:, k]) for k in range(y_prob.shape[1])
              if 0 < (y_true == k).sum() < len(y_true)]
    return float(np.mean(scores)) if scores else float("nan")


def compute_auprc(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Average precision (binary), or its macro one-vs-rest mean."""
    from sklearn.metrics import average_precision_score

    if y_prob.ndim == 1:
        return float(average_precision_score(y_true, y_prob)) if np.any(y_true == 1) else float("nan")
    scores = [average_precision_score(y_true == k, y_prob[:, k]) for k in range(y_prob.shape[1])
              if (y_true == k).any()]
    return float(np.mean(scores)) if scores else float("nan")


def choose_threshold(y_true: np.ndarray, y_prob: np.ndarray, *, target_sensitivity: float | None = None) -> float:
    """Decision threshold on P(positive), chosen on validation data.

    Youden's J (Youden 1950) by default; with `target_sensitivity`, the highest threshold whose
    sensitivity reaches the target (screening use: fix the miss rate, maximise specificity).
    """
    from sklearn.metrics import roc_curve

    if target_sensitivity is not None and not 0 < target_sensitivity <= 1:
        raise ConfigError(f"target sensitivity must be in (0, 1], got {target_sensitivity}: "
                          "pass a fraction such as 0.95")
    y_true, y_prob = np.asarray(y_true), np.asarray(y_prob, dtype=float)
    if y_prob.ndim != 1 or len(y_prob) != len(y_true):
        raise DataError(f"y_prob must hold one probability per case, got shape {y_prob.shape} for {len(y_true)} "
                        "labels: pass P(positive class) as a 1-D array")
    if not np.isfinite(y_prob).all():
        bad = np.flatnonzero(~np.isfinite(y_prob))
        raise DataError(f"y_prob has {len(bad)} NaN or infinite values (first: case {int(bad[0])}): a threshold "
                        "cannot be chosen from them; check the model's outputs")
    if not set(np.unique(y_true)) <= {0, 1}:
        raise DataError(f"y_true must hold the labels 0 and 1, got {sorted(np.unique(y_true).tolist())[:5]}: "
                        "pass 1 for the positive (disease) class and 0 for the rest")
    check_threshold_data(y_true)
    fpr, tpr, thresholds = roc_curve(y_true, y_prob, drop_intermediate=False)
    finite = np.isfinite(thresholds)
    fpr, tpr, thresholds = fpr[finite], tpr[finite], thresholds[finite]
    if target_sensitivity is None:
        # Youden's J compared in whole case counts (tp * N - fp * P), so equal J values tie exactly
        # instead of by floating-point noise; ties go to the highest threshold (the fewest positive calls).
        n_pos, n_neg = int(np.sum(y_true == 1)), int(np.sum(y_true != 1))
        tp, fp = np.rint(tpr * n_pos).astype(np.int64), np.rint(fpr * n_neg).astype(np.int64)
        best = int(np.argmax(tp * n_neg - fp * n_pos))
    else:
        best = int(np.flatnonzero(tpr >= target_sensitivity - 1e-12)[0])
    return float(thresholds[best])


MIN_VALIDATION_PER_CLASS = 5
VAL_FRACTION_HINT = "pass --val-fraction F (e.g. 0.2) to carve a stratified validation split out of train"


def val_fraction_hint(pooled: np.ndarray | None) -> str:
    """What to pass so a carved validation split holds MIN_VALIDATION_PER_CLASS cases of each class, computed from
    the train + val labels it would be carved from (a stratified carve keeps about F x n of a class of n)."""
    if pooled is None:
        return VAL_FRACTION_HINT
    smallest = min(int(np.sum(pooled == k)) for k in (0, 1))
    needed = float(np.ceil(20 * (MIN_VALIDATION_PER_CLASS + 0.5) / max(smallest, 1)) / 20)  # in steps of 0.05
    if needed > 0.5:
        return (f"train and validation hold only {smallest} cases of one class together: add cases of that class "
                f"(a validation split needs {MIN_VALIDATION_PER_CLASS} of each and training needs more)")
    return f"pass --val-fraction {needed:g} to carve a stratified validation split out of train with enough of each class"


def check_threshold_data(y_val: np.ndarray, pooled: np.ndarray | None = None) -> None:
    """Refuse to choose a threshold on a validation split that cannot support one; `pooled` (train + val labels)
    lets the hint name a --val-fraction that would work."""
    counts = {int(k): int(np.sum(y_val == k)) for k in (0, 1)}
    if min(counts.values()) == 0:
        missing = [k for k, n in counts.items() if n == 0][0]
        raise DataError(f"the validation split has no cases of class {missing} ({len(y_val)} cases in all): a decision "
                        f"threshold needs both classes; {val_fraction_hint(pooled)}")
    if min(counts.values()) < MIN_VALIDATION_PER_CLASS:
        raise DataError(f"the validation split has only {min(counts.values())} cases of one class (fewer than "
                        f"{MIN_VALIDATION_PER_CLASS}): too few to choose a decision threshold; {val_fraction_hint(pooled)}")


def compute_confusion_rates(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Sensitivity, specificity, PPV and NPV of binary predictions (1 = positive)."""
    y_true, y_pred = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    tp = int(np.sum(y_true & y_pred))
    tn = int(np.sum(~y_true & ~y_pred))
    fp = int(np.sum(~y_true & y_pred))
    fn = int(np.sum(y_true & ~y_pred))
    return {"sensitivity": _safe_div(tp, tp + fn), "specificity": _safe_div(tn, tn + fp),
            "ppv": _safe_div(tp, tp + fp), "npv": _safe_div(tn, tn + fn),
            "tp": tp, "tn": tn, "fp": fp, "fn": fn}


def compute_per_class_rates(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> list[dict[str, float]]:
    """One-vs-rest sensitivity / specificity / PPV / NPV for each class."""
    return [compute_confusion_rates(y_true == k, y_pred == k) for k in range(n_classes)]


def compute_balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present."""
    recalls = [np.mean(y_pred[y_true == k] == k) for k in np.unique(y_true)]
    return float(np.mean(recalls))
