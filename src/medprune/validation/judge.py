"""The statistics of a validation, on predictions alone: endpoints and verdicts, operating point,
calibration, per-class and subgroup deltas, and the cases whose decision changed.

Everything here works on the test labels and each model's probabilities, so it serves run directories
(`validate`) and a team's own predictions (`validate_predictions`) alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medprune.evaluation.bootstrap import percentile_ci, stratified_counts, weighted_auroc, weighted_rate
from medprune.evaluation.calibration import (apply_temperature, compute_brier, compute_calibration_slope_intercept,
                                             compute_ece)
from medprune.evaluation.delong import delong_paired_test
from medprune.records.validation import ClassificationValidation
from medprune.validation.endpoints import compute_endpoint
from medprune.validation.exemplars import changes_by_class, flipped_cases, modal_flips
from medprune.validation.noninferiority import decide, too_few_cases
from medprune.validation.paired_metrics import BINARY_ONLY, PAIRED_METRICS, Predictions
from medprune.validation.protocol import Protocol
from medprune.validation.subgroups import audit_subgroups, group_labels

OPERATING_METRICS = ("sensitivity", "specificity", "ppv", "npv", "accuracy", "balanced_accuracy")


def judge(y: np.ndarray, reference: Predictions, candidates: dict[str, Predictions], protocol: Protocol,
          class_names: list[str], *, subgroup_values: dict[str, np.ndarray] | None = None,
          temperatures: dict[str, float] | None = None) -> ClassificationValidation:
    """The validation record of `candidates` (by name) against `reference` on the same cases.

    Args:
        temperatures: with `protocol.recalibrate`, the validation-fitted temperature of "reference" and of
            each candidate name, to report calibration after temperature scaling.
    """
    protocol.check(len(class_names))
    names, cands = list(candidates), list(candidates.values())
    counts = stratified_counts(y, protocol.n_resamples, protocol.seed)
    too_few = too_few_cases(y, class_names, protocol.min_cases_per_class)
    endpoint_results = [{name: compute_endpoint(name, y, reference, cand, counts, margin=protocol.margin_for(name),
                                                alpha=protocol.alpha) for name in protocol.judged} for cand in cands]
    decided = decide(endpoint_results, primary=protocol.metric, alpha=protocol.alpha, too_few=too_few,
                     own_thresholds=protocol.candidate_threshold != "reference")
    operating = [m for m in OPERATING_METRICS if len(class_names) == 2 or m not in BINARY_ONLY]
    entries = []
    for name, cand, verdict in zip(names, cands, decided):
        entry: dict[str, Any] = {
            "name": name, "threshold": cand.threshold, **verdict.to_dict(),
            "operating_point": _metric_block(y, reference, cand, counts, protocol, operating),
            "flip_rate": float(np.mean(reference.predicted != cand.predicted)),
            "calibration": {"reference": _calibration(y, reference.probs), "candidate": _calibration(y, cand.probs)},
            "exemplars": flipped_cases(y, reference, cand),
            "changes_by_class": changes_by_class(y, reference, cand),
        }
        entry.update(_discrimination(y, reference, cand, counts, protocol.alpha, class_names))
        if protocol.recalibrate and temperatures:
            t_ref, t_cand = temperatures["reference"], temperatures[name]
            entry["calibration"]["recalibrated"] = {
                "reference_temperature": t_ref, "candidate_temperature": t_cand,
                "reference": _calibration(y, apply_temperature(reference.probs, t_ref)),
                "candidate": _calibration(y, apply_temperature(cand.probs, t_cand))}
        entry.update(_subgroups(y, reference, cand, protocol, subgroup_values or {}, verdict.verdict))
        entries.append(entry)
    record: dict[str, Any] = {
        "protocol": protocol.to_dict(), "threshold": reference.threshold, "too_few_cases": too_few,
        "class_counts": {name: int(np.sum(y == k)) for k, name in enumerate(class_names)},
        "class_names": list(class_names), "positive_class": class_names[1] if len(class_names) == 2 else None,
        "reference": {"calibration": _calibration(y, reference.probs)},
        "candidates": entries,
    }
    if len(cands) > 1:
        record.update(modal_exemplars=modal_flips(y, reference, cands))
    return ClassificationValidation.model_validate(record)


def _discrimination(y: np.ndarray, ref: Predictions, cand: Predictions, counts: np.ndarray, alpha: float,
                    class_names: list[str]) -> dict[str, Any]:
    """McNemar and the paired DeLong test (binary), or per-class deltas and the class hurt most."""
    if len(class_names) == 2:
        delong = delong_paired_test(y, ref.scores, cand.scores, alpha)
        return {"mcnemar": _mcnemar(y, ref, cand), "delong": delong.to_dict(), "delong_p": delong.p_value}
    out: dict[str, Any] = {"delong": None, "delong_p": float("nan"),
                           "delong_reason": "the paired DeLong test is defined for binary AUROC",
                           "per_class": _per_class(y, ref, cand, counts, alpha, class_names)}
    present = [r for r in out["per_class"] if np.isfinite(r["recall"]["delta"])]  # a class absent from test is not hurt
    if present:
        worst = min(present, key=lambda r: r["recall"]["delta"])
        out["class_hurt_most"] = {"class": worst["class"], "recall_delta": worst["recall"]["delta"],
                                  "auroc_delta": worst["auroc"]["delta"]}
    return out


def _subgroups(y: np.ndarray, ref: Predictions, cand: Predictions, protocol: Protocol,
               subgroup_values: dict[str, np.ndarray], verdict: str) -> dict[str, Any]:
    margins = {name: protocol.margin_for(name) for name in protocol.judged}
    subgroups = {column: audit_subgroups(y, group_labels(np.asarray(values)), ref, cand, margins=margins,
                                         alpha=protocol.alpha,
                                         n_resamples=protocol.n_resamples, seed=protocol.seed,
                                         min_cases_per_class=protocol.min_cases_per_class)
                 for column, values in subgroup_values.items()}
    flagged = [f"{col}={r['group']} ({', '.join(r['worse_endpoints'])})" for col, rows in subgroups.items()
               for r in rows if r["worse_than_margin"]]
    out: dict[str, Any] = {"subgroups": subgroups, "subgroup_flags": flagged,
                           "flagged": bool(flagged) and verdict == "non-inferior"}
    worst_rows = [(col, r) for col, rows in subgroups.items() for r in rows if np.isfinite(r["delta"])]
    if worst_rows:
        col, r = min(worst_rows, key=lambda item: item[1]["delta"])
        out["worst_group"] = {"column": col, "group": r["group"], "delta": r["delta"]}
    return out


def _calibration(y: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    scores = probs[:, 1] if probs.shape[1] == 2 else probs
    slope, intercept = compute_calibration_slope_intercept(y, scores)
    out = {"ece": compute_ece(y, scores), "brier": compute_brier(y, scores), "slope": slope, "intercept": intercept}
    if probs.shape[1] != 2:
        out["slope_reason"] = "calibration slope and intercept are defined for binary tasks"
    return out


def _metric_block(y: np.ndarray, ref: Predictions, cand: Predictions, counts: np.ndarray, protocol: Protocol,
                  names: list[str]) -> dict[str, Any]:
    """Both models' value with its bootstrap CI, and the paired delta with the same interval the endpoint
    of that name uses (so the tables never disagree with the verdict)."""
    ones = np.ones((1, len(y)), dtype=np.float32)
    block = {}
    for name in names:
        fn = PAIRED_METRICS.get(name)
        r0, c0 = float(fn(y, ref, ones)[0]), float(fn(y, cand, ones)[0])
        delta = compute_endpoint(name, y, ref, cand, counts, margin=protocol.margin_for(name), alpha=protocol.alpha)
        block[name] = {"reference": r0, "reference_ci": percentile_ci(fn(y, ref, counts), protocol.alpha),
                       "candidate": c0, "candidate_ci": percentile_ci(fn(y, cand, counts), protocol.alpha),
                       "delta": c0 - r0, "delta_ci": [delta.ci_low, delta.ci_high], "delta_method": delta.method,
                       "dropped_resamples": delta.dropped_resamples}
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
