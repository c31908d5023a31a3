"""`validate_predictions`: the full validation on a team's own test predictions, no run directory needed."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from medprune.errors import ConfigError, DataError
from medprune.evaluation.given_predictions import as_probabilities, check_labels_and_classes, check_threshold
from medprune.validation.judge import judge
from medprune.validation.noninferiority import MIN_CASES_PER_CLASS
from medprune.validation.paired_metrics import Predictions
from medprune.validation.protocol import Protocol
from medprune.records.base import set_fields
from medprune.validation.validate import ValidationReport, software_versions


def validate_predictions(y_true: np.ndarray, y_prob_reference: np.ndarray, candidates: Mapping[str, object], *,
                         threshold: float | None,
                         margins: float | Mapping[str, float], metric: str = "auroc",
                         endpoints: list[str] | None = None, positive_class: str | int | None = None,
                         class_names: list[str] | None = None, groups: Mapping[str, object] | None = None,
                         alpha: float = 0.05, n_resamples: int = 2000, seed: int = 0,
                         min_cases_per_class: int = MIN_CASES_PER_CLASS, name: str = "test predictions",
                         images: np.ndarray | None = None) -> ValidationReport:
    """Is each candidate non-inferior to the reference on the same test cases? Same rule and report as
    `medprune validate`: AUROC, sensitivity and specificity at the reference threshold are co-primary by
    default; `report.save(dir)` writes `validation.json` and `report.html`.

    Args:
        y_true: (N,) class indices of the test cases.
        y_prob_reference: (N,) probability of label 1, or (N, K) class probabilities, of the reference model.
        candidates: name -> the candidate's probabilities on the same cases, in the same order.
        threshold: binary tasks: the reference's decision threshold on P(positive), chosen on validation data.
        margins: the primary metric's margin (e.g. 0.01), or margins by endpoint
            ({"auroc": 0.01, "sensitivity": 0.05, "specificity": 0.05}).
        endpoints: the co-primary endpoints (default: `metric`, sensitivity, specificity).
        positive_class: binary tasks: the disease class (a name from `class_names`, or 0 / 1).
        groups: subgroup column name -> (N,) values, audited per group.
        images: optional (N, C, H, W) uint8 test images for the gallery of changed cases.
    Raises:
        DataError / ConfigError: inputs that do not fit together, or a bad protocol.
    """
    y = np.asarray(y_true)
    reference = as_probabilities(y_prob_reference, len(y), "y_prob_reference")
    checked = check_labels_and_classes(y, reference.shape[1], class_names, positive_class)
    threshold = check_threshold(threshold, reference.shape[1])
    if not candidates:
        raise ConfigError("candidates is empty: pass {name: probabilities} for at least one compressed model")
    probs = {}
    for key, value in candidates.items():
        cand = as_probabilities(value, len(y), f"candidate '{key}'")
        if cand.shape != reference.shape:
            raise DataError(f"candidate '{key}' has {cand.shape[1]} classes but the reference has "
                            f"{reference.shape[1]}: compare models trained for the same task")
        probs[str(key)] = checked.probs(cand)
    subgroup_values = {}
    for column, values in (groups or {}).items():
        values = np.asarray(values)
        if values.shape != (len(y),):
            raise DataError(f"group '{column}' has {values.shape} values for {len(y)} cases: give one value per case")
        subgroup_values[str(column)] = values
    protocol = _protocol(metric, margins, endpoints, alpha, n_resamples, seed, min_cases_per_class,
                         list(subgroup_values))
    ref = Predictions(checked.probs(reference), threshold)
    record = judge(checked.y_true, ref, {k: Predictions(p, threshold) for k, p in probs.items()}, protocol,
                   checked.class_names, subgroup_values=subgroup_values)
    counts = np.bincount(checked.y_true, minlength=len(checked.class_names)).tolist()
    record.data = {"name": name, "modality": "predictions", "task": "binary" if len(counts) == 2 else "multiclass",
                   "class_names": checked.class_names, "n": {"test": int(len(y))}, "class_counts": {"test": counts},
                   "source": {"data": "predictions given in Python"}, "md5": ""}
    for entry in [record.reference, *record.candidates]:
        set_fields(entry, architecture="given predictions")
    set_fields(record.reference, name="reference")
    record.versions = software_versions()
    return ValidationReport(record, checked.y_true, ref.probs, list(probs.values()), images)


def _protocol(metric, margins, endpoints, alpha, n_resamples, seed, min_cases, subgroups) -> Protocol:
    if isinstance(margins, Mapping):
        by_endpoint = {str(k): float(v) for k, v in margins.items()}
        if metric not in by_endpoint:
            raise ConfigError(f"margins names no margin for the primary metric '{metric}': add it, e.g. "
                              f"{{'{metric}': 0.01, ...}}")
        primary = by_endpoint.pop(metric)
    else:
        primary, by_endpoint = float(margins), {}
    judged = tuple(endpoints) if endpoints else None
    return Protocol(metric=metric, margin=primary, endpoints=judged, margins=by_endpoint, alpha=alpha,
                    n_resamples=n_resamples, seed=seed, min_cases_per_class=min_cases, subgroups=subgroups)
