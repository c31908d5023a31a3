"""The `validate` verb: is each compressed candidate as safe as the reference, on the same cases?"""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medprune import __version__
from medprune.data.dataset import Dataset
from medprune.errors import DataError
from medprune.evaluation.bootstrap import percentile_ci, stratified_counts
from medprune.evaluation.calibration import (apply_temperature, compute_brier, compute_calibration_slope_intercept,
                                             compute_ece, fit_temperature)
from medprune.evaluation.delong import delong_paired_test
from medprune.evaluation.efficiency import model_counts, serialized_sizes
from medprune.evaluation.evaluate import check_model_matches_data, validation_threshold
from medprune.evaluation.metrics import choose_threshold
from medprune.evaluation.predict import check_finite, predict_proba
from medprune.models.checkpoint import Checkpoint
from medprune.validation.exemplars import flipped_cases, modal_flips
from medprune.validation.endpoints import compute_endpoint
from medprune.validation.noninferiority import decide, too_few_cases
from medprune.validation.paired_metrics import BINARY_ONLY, PAIRED_METRICS, Predictions
from medprune.validation.protocol import Protocol
from medprune.validation.subgroups import audit_subgroups, group_labels


def sha256(path: Path | None) -> str:
    if path is None or not Path(path).is_file():
        return ""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_comparable(reference: Checkpoint, candidate: Checkpoint, dataset: Dataset) -> None:
    """Refuse pairs that do not answer the same clinical question on the same inputs."""
    check_model_matches_data(reference, dataset)
    name = _display_name(candidate)
    if list(candidate.class_names) != list(reference.class_names):
        raise DataError(f"candidate {name} predicts classes {candidate.class_names} but the reference predicts "
                        f"{reference.class_names}: compare models trained for the same task")
    if tuple(candidate.input_shape) != tuple(reference.input_shape):
        raise DataError(f"candidate {name} takes inputs of shape {tuple(candidate.input_shape)} but the reference "
                        f"takes {tuple(reference.input_shape)}: compare models of the same input")


def _display_name(checkpoint: Checkpoint) -> str:
    """A run directory's name, or the file's name for a loose model file such as an exported .onnx."""
    if checkpoint.path is None:
        return checkpoint.name
    return checkpoint.path.name if checkpoint.path.name != "model.pt" else checkpoint.path.parent.name


def _calibration(y: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    scores = probs[:, 1] if probs.shape[1] == 2 else probs
    slope, intercept = compute_calibration_slope_intercept(y, scores)
    out = {"ece": compute_ece(y, scores), "brier": compute_brier(y, scores), "slope": slope, "intercept": intercept}
    if probs.shape[1] != 2:
        out["slope_reason"] = "calibration slope and intercept are defined for binary tasks"
    return out


def _metric_block(y: np.ndarray, ref: Predictions, cand: Predictions, counts: np.ndarray, alpha: float,
                  names: list[str]) -> dict[str, Any]:
    """Both models' value with CI and the paired delta with CI, for each metric."""
    ones = np.ones((1, len(y)), dtype=np.float32)
    block = {}
    for name in names:
        fn = PAIRED_METRICS.get(name)
        r, c = fn(y, ref, counts), fn(y, cand, counts)
        r0, c0 = float(fn(y, ref, ones)[0]), float(fn(y, cand, ones)[0])
        block[name] = {"reference": r0, "reference_ci": percentile_ci(r, alpha), "candidate": c0,
                       "candidate_ci": percentile_ci(c, alpha), "delta": c0 - r0,
                       "delta_ci": percentile_ci(c - r, alpha)}
    return block


def _mcnemar(y: np.ndarray, ref: Predictions, cand: Predictions) -> dict[str, Any]:
    """Exact McNemar test on the cases only one of the two models gets right (McNemar 1947)."""
    from scipy.stats import binomtest

    ref_ok, cand_ok = ref.predicted == y, cand.predicted == y
    only_ref, only_cand = int(np.sum(ref_ok & ~cand_ok)), int(np.sum(~ref_ok & cand_ok))
    p = binomtest(only_ref, only_ref + only_cand, 0.5).pvalue if only_ref + only_cand else 1.0
    return {"reference_only_correct": only_ref, "candidate_only_correct": only_cand, "p_value": float(p)}


def _per_class(y: np.ndarray, ref: Predictions, cand: Predictions, counts: np.ndarray, alpha: float,
               class_names: list[str]) -> list[dict[str, Any]]:
    from medprune.evaluation.bootstrap import weighted_auroc, weighted_rate

    rows = []
    ones = np.ones((1, len(y)), dtype=np.float32)
    for k, name in enumerate(class_names):
        row = {"class": name}
        for key, fn in (("auroc", lambda p, w: weighted_auroc(y == k, p.probs[:, k], w)),
                        ("recall", lambda p, w: weighted_rate(p.predicted == k, y == k, w))):
            r0, c0 = float(fn(ref, ones)[0]), float(fn(cand, ones)[0])
            row[key] = {"reference": r0, "candidate": c0, "delta": c0 - r0,
                        "delta_ci": percentile_ci(fn(cand, counts) - fn(ref, counts), alpha)}
        rows.append(row)
    return rows


@dataclass
class ValidationResult:
    """The JSON record, and the per-case arrays the report's curves are drawn from."""

    record: dict[str, Any]
    y_true: np.ndarray
    reference_probs: np.ndarray
    candidate_probs: list[np.ndarray]
    images: np.ndarray | None = None  # test images (N, C, H, W) for the exemplar gallery

    def to_dict(self) -> dict[str, Any]:
        return self.record


def validate(reference: Checkpoint, candidates: list[Checkpoint], dataset: Dataset, protocol: Protocol, *,
             subgroup_values: dict[str, np.ndarray] | None = None) -> ValidationResult:
    """Compare every candidate with the reference on the same test cases, per the protocol.

    Raises:
        DataError / ConfigError: incomparable models, a bad protocol, unknown subgroup columns.
    """
    protocol.check(dataset.n_classes)
    for candidate in candidates:
        check_comparable(reference, candidate, dataset)
    test, pre = dataset.split(protocol.split), dataset.preprocessing
    y = test.y
    subgroup_values = dict(subgroup_values or {})
    for column in protocol.subgroups:
        if column not in subgroup_values:
            if column not in test.meta:
                known = ", ".join(test.meta) or "none (load the CSV with --subgroup, or pass --subgroup-file)"
                raise DataError(f"subgroup column '{column}' is not available: known subgroup columns are {known}")
            subgroup_values[column] = test.meta[column]
    threshold = reference.threshold if reference.threshold is not None else validation_threshold(reference, dataset)
    ref = Predictions(_checked_proba(reference, test, pre), threshold)
    cand_thresholds = [_candidate_threshold(protocol, reference, c, dataset, threshold) for c in candidates]
    cands = [Predictions(_checked_proba(c, test, pre), t) for c, t in zip(candidates, cand_thresholds)]
    counts = stratified_counts(y, protocol.n_resamples, protocol.seed)
    too_few = too_few_cases(y, list(dataset.class_names), protocol.min_cases_per_class)
    endpoint_results = [{name: compute_endpoint(name, y, ref, cand, counts, margin=protocol.margin_for(name),
                                                alpha=protocol.alpha) for name in protocol.judged} for cand in cands]
    decided = decide(endpoint_results, primary=protocol.metric, alpha=protocol.alpha, too_few=too_few)
    operating = ["sensitivity", "specificity", "ppv", "npv", "accuracy", "balanced_accuracy"]
    if dataset.n_classes != 2:
        operating = [m for m in operating if m not in BINARY_ONLY]
    recal = {}
    if protocol.recalibrate:
        val = dataset.split("val")
        for key, model in [("reference", reference), *((f"candidate{i}", c) for i, c in enumerate(candidates))]:
            recal[key] = fit_temperature(val.y, _checked_proba(model, val, pre))
    results = []
    for i, (checkpoint, cand, verdict) in enumerate(zip(candidates, cands, decided)):
        entry: dict[str, Any] = {
            "name": _display_name(checkpoint), "threshold": cand.threshold,
            "path": str(checkpoint.path), "sha256": sha256(checkpoint.path), "architecture": checkpoint.name,
            **verdict.to_dict(),
            "operating_point": _metric_block(y, ref, cand, counts, protocol.alpha, operating),
            "flip_rate": float(np.mean(ref.predicted != cand.predicted)),
            "calibration": {"reference": _calibration(y, ref.probs), "candidate": _calibration(y, cand.probs)},
            "exemplars": flipped_cases(y, ref, cand),
            "efficiency": _efficiency(checkpoint, dataset),
        }
        if dataset.n_classes == 2:
            entry["mcnemar"] = _mcnemar(y, ref, cand)
            delong = delong_paired_test(y, ref.scores, cand.scores, protocol.alpha)
            entry["delong"], entry["delong_p"] = delong.to_dict(), delong.p_value
        else:
            entry["delong"], entry["delong_p"] = None, float("nan")
            entry["delong_reason"] = "the paired DeLong test is defined for binary AUROC"
            entry["per_class"] = _per_class(y, ref, cand, counts, protocol.alpha, dataset.class_names)
            present = [r for r in entry["per_class"] if np.isfinite(r["recall"]["delta"])]
            worst = min(present, key=lambda r: r["recall"]["delta"]) if present else None
            if worst is not None:
                entry["class_hurt_most"] = {"class": worst["class"], "recall_delta": worst["recall"]["delta"],
                                            "auroc_delta": worst["auroc"]["delta"]}
        if protocol.recalibrate:
            t_ref, t_cand = recal["reference"], recal[f"candidate{i}"]
            entry["calibration"]["recalibrated"] = {
                "reference_temperature": t_ref, "candidate_temperature": t_cand,
                "reference": _calibration(y, apply_temperature(ref.probs, t_ref)),
                "candidate": _calibration(y, apply_temperature(cand.probs, t_cand))}
        entry["subgroups"] = {}
        for column, values in subgroup_values.items():
            rows = audit_subgroups(y, group_labels(np.asarray(values)), ref, cand, metric=protocol.metric,
                                   margin=protocol.margin, alpha=protocol.alpha, n_resamples=protocol.n_resamples,
                                   seed=protocol.seed, min_cases_per_class=protocol.min_cases_per_class)
            entry["subgroups"][column] = rows
        flagged = [f"{col}={r['group']}" for col, rows in entry["subgroups"].items() for r in rows
                   if r["worse_than_margin"]]
        worst_rows = [(col, r) for col, rows in entry["subgroups"].items() for r in rows if np.isfinite(r["delta"])]
        if worst_rows:
            col, r = min(worst_rows, key=lambda item: item[1]["delta"])
            entry["worst_group"] = {"column": col, "group": r["group"], "delta": r["delta"]}
        entry["subgroup_flags"] = flagged
        entry["flagged"] = bool(flagged) and verdict.verdict == "non-inferior"
        results.append(entry)
    record = {
        "protocol": protocol.to_dict(), "threshold": threshold, "too_few_cases": too_few,
        "class_counts": {name: int(np.sum(y == k)) for k, name in enumerate(dataset.class_names)},
        "data": dataset.describe(), "class_names": list(dataset.class_names),
        "positive_class": dataset.class_names[1] if dataset.n_classes == 2 else None,
        "reference": {"name": _display_name(reference),
                      "path": str(reference.path), "sha256": sha256(reference.path), "architecture": reference.name,
                      "calibration": _calibration(y, ref.probs), "efficiency": _efficiency(reference, dataset),
                      "spec_model": reference.spec["model"]},
        "candidates": results,
        "versions": software_versions(),
    }
    if len(cands) > 1:
        record["modal_exemplars"] = modal_flips(y, ref, cands)
    images = test.x if dataset.modality == "image" else None
    return ValidationResult(record, y, ref.probs, [c.probs for c in cands], images)


def _checked_proba(checkpoint: Checkpoint, split: Any, preprocessing: Any) -> np.ndarray:
    return check_finite(predict_proba(checkpoint.model, split, preprocessing), _display_name(checkpoint))


def _candidate_threshold(protocol: Protocol, reference: Checkpoint, candidate: Checkpoint, dataset: Dataset,
                         threshold: float | None) -> float | None:
    """The threshold a candidate is judged at, by the protocol's pre-specified rule (never chosen on test)."""
    if protocol.candidate_threshold == "reference" or threshold is None:
        return threshold
    val, pre = dataset.split("val"), dataset.preprocessing
    ref_scores = _checked_proba(reference, val, pre)[:, 1]
    target = float(np.mean(ref_scores[val.y == 1] >= threshold))
    return choose_threshold(val.y, _checked_proba(candidate, val, pre)[:, 1], target_sensitivity=max(target, 1e-9))


def _efficiency(checkpoint: Checkpoint, dataset: Dataset) -> dict[str, Any]:
    params, nonzero, macs = model_counts(checkpoint.model, tuple(dataset.input_shape))
    size, size_gz = serialized_sizes(checkpoint.model, checkpoint.path)
    return {"params": params, "nonzero_params": nonzero, "macs": macs, "size_bytes": size, "size_gzip_bytes": size_gz}


def software_versions() -> dict[str, str]:
    """The versions a result depends on, recorded beside it."""
    import numpy
    import onnxruntime
    import scipy
    import sklearn
    import torch

    return {"medprune": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__, "platform": platform.platform()}
