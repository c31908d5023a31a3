"""Subgroup audit: does the compressed model leave any group of patients worse off?"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from medprune.errors import DataError
from medprune.evaluation.bootstrap import stratified_counts
from medprune.validation.endpoints import compute_endpoint
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
                    margins: dict[str, float], alpha: float, n_resamples: int, seed: int,
                    min_cases_per_class: int = 1) -> list[dict]:
    """Per group, every co-primary endpoint (`margins`: name -> margin, primary first) with the same paired
    interval the overall verdict uses, and flags judged on those intervals.

    The row's own `reference`, `candidate`, `delta`, `ci_low`, `ci_high` are the primary endpoint's; `endpoints`
    holds each one's. `worse_than_margin`: some endpoint's whole interval lies below -margin (evidence the group is
    worse off; `worse_endpoints` names them); `harm_not_excluded`: some endpoint's lower bound lies below -margin
    (the data cannot rule that out; `harm_endpoints` names them); a group with fewer than `min_cases_per_class`
    cases of a class gets a reason saying it is too small.
    """
    primary = next(iter(margins))
    rows = []
    for group in sorted(np.unique(labels)):
        idx = np.flatnonzero(labels == group)
        yg = y[idx]
        ref_g = Predictions(reference.probs[idx], reference.threshold)
        cand_g = Predictions(candidate.probs[idx], candidate.threshold)
        counts = stratified_counts(yg, n_resamples, seed)
        ends = {name: _endpoint(name, yg, ref_g, cand_g, counts, margin, alpha) for name, margin in margins.items()}
        main = ends[primary]
        row = {"group": str(group), "n": int(len(idx)), "reference": main["reference"],
               "candidate": main["candidate"], "delta": main["delta"], "ci_low": main["ci_low"],
               "ci_high": main["ci_high"], "reason": main["undefined"], "endpoints": ends}
        if main["undefined"]:
            warnings.warn(f"subgroup '{group}': {main['undefined']}", stacklevel=2)
        per_class = [int(np.sum(yg == k)) for k in np.unique(y)]
        if np.isfinite(row["delta"]) and min(per_class) < min_cases_per_class:
            row["reason"] = (f"too few cases to judge non-inferiority ({min(per_class)} in its smallest class, "
                             f"minimum {min_cases_per_class}); an interval wholly below the margin still shows harm")
        row["worse_endpoints"] = [name for name, e in ends.items() if e["worse_than_margin"]]
        row["worse_than_margin"] = bool(row["worse_endpoints"])
        row["harm_endpoints"] = [name for name, e in ends.items()
                                 if not e["undefined"] and not (np.isfinite(e["ci_low"]) and e["ci_low"] >= -e["margin"])]
        row["harm_not_excluded"] = bool(row["harm_endpoints"])
        rows.append(row)
    return rows


def _endpoint(name: str, y: np.ndarray, reference: Predictions, candidate: Predictions, counts: np.ndarray,
              margin: float, alpha: float) -> dict:
    """One endpoint in one group, or why it is undefined there (e.g. sensitivity in a group with no disease)."""
    ones = np.ones((1, len(y)), dtype=np.float32)
    fn = PAIRED_METRICS.get(name)
    with np.errstate(invalid="ignore", divide="ignore"):  # undefined here is said below, not warned about
        ref_value, cand_value = float(fn(y, reference, ones)[0]), float(fn(y, candidate, ones)[0])
    if not (np.isfinite(ref_value) and np.isfinite(cand_value)):
        nan = float("nan")
        return {"reference": ref_value, "candidate": cand_value, "delta": nan, "ci_low": nan, "ci_high": nan,
                "margin": margin, "worse_than_margin": False, "reason": "",
                "undefined": f"{name} is undefined in this group (a class it needs is absent)"}
    end = compute_endpoint(name, y, reference, candidate, counts, margin=margin, alpha=alpha)
    return {"reference": end.reference, "candidate": end.candidate, "delta": end.delta, "ci_low": end.ci_low,
            "ci_high": end.ci_high, "margin": margin, "worse_than_margin": bool(end.ci_high < -margin),
            "reason": end.reason, "undefined": ""}
