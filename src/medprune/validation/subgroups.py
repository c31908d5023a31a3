"""Subgroup audit: does the compressed model leave any group of patients worse off?"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from medprune.errors import DataError
from medprune.evaluation.bootstrap import percentile_ci, stratified_counts
from medprune.validation.paired_metrics import PAIRED_METRICS, Predictions

MAX_LEVELS = 10  # numeric columns with more distinct values are cut into quartiles


def group_labels(values: np.ndarray) -> np.ndarray:
    """Category labels; a numeric column with many values (e.g. Age) becomes quartile ranges."""
    try:
        numeric = values.astype(float)
    except (TypeError, ValueError):
        return values.astype(str)
    if len(np.unique(numeric)) <= MAX_LEVELS:
        return values.astype(str)
    edges = np.unique(np.quantile(numeric, [0, 0.25, 0.5, 0.75, 1]))
    bins = np.clip(np.searchsorted(edges, numeric, side="right") - 1, 0, len(edges) - 2)
    return np.array([f"[{edges[b]:g}, {edges[b + 1]:g}{']' if b == len(edges) - 2 else ')'}" for b in bins])


def read_subgroup_file(path: Path, column: str, n_cases: int) -> np.ndarray:
    """A metadata CSV with one row per test case, in test-set order."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is not a readable CSV ({err}): give a table with one row per test case") from None
    if column not in frame.columns:
        raise DataError(f"column '{column}' is not in {Path(path).name}: choose one of {', '.join(map(str, frame.columns))}")
    if len(frame) != n_cases:
        raise DataError(f"{Path(path).name} has {len(frame)} rows but the test split has {n_cases} cases: "
                        "the file must have one row per test case, in order")
    return frame[column].to_numpy()


def audit_subgroups(y: np.ndarray, labels: np.ndarray, reference: Predictions, candidate: Predictions, *,
                    metric: str, margin: float, alpha: float, n_resamples: int, seed: int,
                    min_cases_per_class: int = 1) -> list[dict]:
    """Per group: both models' metric, the paired delta and its bootstrap CI, and flags judged on the CI.

    `worse_than_margin`: the whole interval lies below -margin (evidence the group is worse off);
    `harm_not_excluded`: the lower bound lies below -margin (the data cannot rule that out);
    a group with fewer than `min_cases_per_class` cases of a class gets a reason saying it is too small.
    """
    fn = PAIRED_METRICS.get(metric)
    rows = []
    for group in sorted(np.unique(labels)):
        idx = np.flatnonzero(labels == group)
        yg = y[idx]
        ref_g = Predictions(reference.probs[idx], reference.threshold)
        cand_g = Predictions(candidate.probs[idx], candidate.threshold)
        ones = np.ones((1, len(idx)), dtype=np.float32)
        ref_value, cand_value = float(fn(yg, ref_g, ones)[0]), float(fn(yg, cand_g, ones)[0])
        row = {"group": str(group), "n": int(len(idx)), "reference": ref_value, "candidate": cand_value,
               "delta": cand_value - ref_value, "ci_low": float("nan"), "ci_high": float("nan"), "reason": ""}
        if not np.isfinite(row["delta"]):
            row["reason"] = f"{metric} is undefined in this group (only one class present)"
            warnings.warn(f"subgroup '{group}': {row['reason']}", stacklevel=2)
        else:
            counts = stratified_counts(yg, n_resamples, seed)
            row["ci_low"], row["ci_high"] = percentile_ci(fn(yg, cand_g, counts) - fn(yg, ref_g, counts), alpha)
        per_class = [int(np.sum(yg == k)) for k in np.unique(y)]
        if np.isfinite(row["delta"]) and min(per_class) < min_cases_per_class:
            row["reason"] = (f"too few cases to judge ({min(per_class)} in its smallest class, minimum "
                             f"{min_cases_per_class})")
        row["worse_than_margin"] = bool(np.isfinite(row["ci_high"]) and row["ci_high"] < -margin)
        row["harm_not_excluded"] = bool(not np.isfinite(row["ci_low"]) or row["ci_low"] < -margin)
        rows.append(row)
    return rows
