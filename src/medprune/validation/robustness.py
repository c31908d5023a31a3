"""Robustness: does a compressed model fail worse than its reference on degraded images?

Both models see the same test cases under every corruption and severity (`data/corruptions.py`). Per
condition: the paired AUROC delta with the clean AUROC endpoint's interval and the operating point at each
model's threshold (sensitivity and specificity deltas with Tango's score intervals). The robustness
endpoint, pre-specified: per corruption, the paired AUROC delta averaged over its five severities, with the
clean endpoint's margin and its interval, computed on DeLong's components averaged over the severities (the
same cases in every condition, so their correlation is kept), and the delta at the worst severity (5) with its
own interval: an average must not hide a collapse at severity 5. Its error rate is measured in
`benchmarks/validation_size.py`.
A corruption is passed only if both its average and its worst severity are non-inferior, failed if either is
inferior; a candidate is robust (non-inferior) only if every corruption is passed, inferior if any is failed,
inconclusive otherwise: intersection-union tests, so no multiplicity correction is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from medprune.data.corruptions import SEVERITIES, Corruption, choose, corrupt, kind_of
from medprune.data.dataset import Split
from medprune.errors import ConfigError
from medprune.evaluation.bootstrap import percentile_ci, stratified_counts
from medprune.evaluation.paired_proportions import compute_paired_proportion_difference
from medprune.evaluation.predict import check_finite, predict_proba
from medprune.models.checkpoint import Checkpoint
from medprune.validation.endpoints import compute_auroc_difference, endpoint_verdict
from medprune.validation.paired_metrics import PAIRED_METRICS, Predictions

METHOD = ("per corruption, the paired AUROC delta averaged over severities 1-5 and the delta at severity 5; "
          "interval: the clean AUROC endpoint's (DeLong's test on the logit scale, widened by MOVER when few cases "
          "are misranked), for the average on DeLong's components averaged over the severities (binary); paired "
          "stratified bootstrap percentile (multi-class); verdict: non-inferior only if the average and the worst "
          "severity of every corruption are (intersection-union)")


@dataclass(frozen=True)
class Model:
    """One model under test: its name, checkpoint and decision threshold."""

    name: str
    checkpoint: Checkpoint
    threshold: float | None


def audit_robustness(reference: Model, candidates: list[Model], test: Split, preprocessing: dict, *,
                     input_shape: tuple[int, ...], corruptions: str | None, margin: float, alpha: float,
                     n_resamples: int, seed: int, progress: bool = False) -> dict[str, Any]:
    """The `robustness` record of validation.json (see the module docstring); `progress` shows a bar over the
    conditions (every model predicts every corrupted test set: the longest part of a validation)."""
    from rich.progress import track

    chosen = choose(kind_of(input_shape), corruptions)
    y = test.y
    images = np.asarray(test.x)
    auroc = PAIRED_METRICS.get("auroc")
    binary = len(np.unique(y)) <= 2
    counts = None if binary else stratified_counts(y, n_resamples, seed)  # the bootstrap serves multi-class only
    conditions, deltas = [], {c.name: {} for c in candidates}
    every = [(corruption, severity) for corruption in chosen for severity in SEVERITIES]
    for corruption, severity in track(every, f"robustness: {len(chosen)} corruptions x {len(SEVERITIES)} severities",
                                      disable=not progress, transient=True):
        x = corrupt(images, corruption, severity, seed)
        ref = _predictions(reference, x, y, preprocessing)
        ref_auroc = float(auroc(y, ref, np.ones((1, len(y)), np.float32))[0])
        row = {"corruption": corruption.name, "severity": severity, "reference_auroc": ref_auroc, "candidates": {}}
        ref_boot = None if binary else auroc(y, ref, counts)
        for cand in candidates:
            pred = _predictions(cand, x, y, preprocessing)
            if binary:
                deltas[cand.name][(corruption.name, severity)] = (ref.scores, pred.scores)
                low, high, _ = compute_auroc_difference(y, ref.scores, pred.scores, margin, alpha)
            else:
                boot = auroc(y, pred, counts) - ref_boot
                deltas[cand.name][(corruption.name, severity)] = boot
                low, high = percentile_ci(boot, alpha)
            value = float(auroc(y, pred, np.ones((1, len(y)), np.float32))[0])
            entry = {"auroc": value, "delta": value - ref_auroc, "ci_low": low, "ci_high": high}
            if binary and reference.threshold is not None:
                entry.update(_operating_point(y, ref, pred, alpha))
            row["candidates"][cand.name] = entry
        conditions.append(row)
    return {"kind": kind_of(input_shape), "corruptions": [_describe(c) for c in chosen],
            "severities": list(SEVERITIES), "seed": seed, "margin": margin, "method": METHOD,
            "conditions": conditions,
            "candidates": [_endpoint(c.name, chosen, conditions, deltas[c.name], y, margin, alpha)
                           for c in candidates]}


def judge_robustness(reference: Any, candidates: dict[str, Any], images: np.ndarray, labels: np.ndarray, *,
                     threshold: float | None = None, corruptions: str = "all", margin: float = 0.01,
                     alpha: float = 0.05, n_resamples: int = 2000, seed: int = 0,
                     preprocessing: dict | None = None) -> dict[str, Any]:
    """The robustness audit for your own models (any `nn.Module` returning class logits) on your own test images.

    Args:
        images: uint8 (N, C, H, W) images or (N, 1, D, H, W) volumes; labels: class indices (N,).
        threshold: the decision threshold on P(class 1) of a binary task, for the operating-point deltas.
        preprocessing: how uint8 becomes the model's input, {"scale", "mean", "std"} (default MedMNIST's:
            x / 255, then (x - 0.5) / 0.5).
    Returns:
        The same record as `validation.json["robustness"]`: per condition and per corruption, with verdicts.
    """
    images, labels = np.asarray(images), np.asarray(labels).reshape(-1).astype(np.int64)
    if images.dtype != np.uint8 or images.ndim not in (4, 5) or len(images) != len(labels):
        raise ConfigError("images must be uint8 (N, C, H, W) or (N, 1, D, H, W), one label per image")
    wrap = lambda name, net: Model(name, SimpleNamespace(model=net), threshold)  # noqa: E731
    pre = preprocessing or {"scale": 1 / 255, "mean": 0.5, "std": 0.5}
    return audit_robustness(wrap("reference", reference), [wrap(n, m) for n, m in candidates.items()],
                            Split(images, labels), pre, input_shape=images.shape[1:], corruptions=corruptions,
                            margin=margin, alpha=alpha, n_resamples=n_resamples, seed=seed)


def _predictions(model: Model, x: np.ndarray, y: np.ndarray, preprocessing: dict) -> Predictions:
    probs = check_finite(predict_proba(model.checkpoint.model, Split(x, y), preprocessing), model.name)
    return Predictions(probs, model.threshold)


def _operating_point(y: np.ndarray, ref: Predictions, cand: Predictions, alpha: float) -> dict[str, float]:
    out = {}
    for name, cls in (("sensitivity", 1), ("specificity", 0)):
        member = y == cls
        diff = compute_paired_proportion_difference(cand.predicted[member] == cls, ref.predicted[member] == cls, alpha)
        out.update({f"{name}_delta": diff.delta, f"{name}_ci_low": diff.ci_low, f"{name}_ci_high": diff.ci_high})
    return out


def _endpoint(name: str, chosen: list[Corruption], conditions: list[dict], deltas: dict, y: np.ndarray,
              margin: float, alpha: float) -> dict[str, Any]:
    """Per corruption: the severity-averaged delta, its interval and verdict; then the candidate's verdict.

    `deltas` holds per (corruption, severity) the (reference, candidate) scores of a binary task, or the bootstrap
    deltas of a multi-class one."""
    per_corruption = {}
    worst_severity = SEVERITIES[-1]
    for corruption in chosen:
        parts = [deltas[(corruption.name, s)] for s in SEVERITIES]
        rows = {row["severity"]: row["candidates"][name] for row in conditions if row["corruption"] == corruption.name}
        point = float(np.mean([rows[s]["delta"] for s in SEVERITIES]))
        if isinstance(parts[0], tuple):
            low, high, _ = compute_auroc_difference(y, [r for r, _ in parts], [c for _, c in parts], margin, alpha)
        else:
            low, high = percentile_ci(np.mean(parts, axis=0), alpha)
        average_verdict, average_reason = endpoint_verdict(low, high, margin)
        worst = rows[worst_severity]  # its interval is the condition's own (the clean endpoint's method)
        worst_verdict, worst_reason = endpoint_verdict(worst["ci_low"], worst["ci_high"], margin)
        verdict, reason = corruption_verdict(average_verdict, average_reason, worst_verdict, worst_reason, worst_severity)
        per_corruption[corruption.name] = {"delta": point, "ci_low": low, "ci_high": high, "verdict": verdict,
                                           "reason": reason, "average_verdict": average_verdict,
                                           "worst_severity": {"severity": worst_severity, "delta": worst["delta"],
                                                              "ci_low": worst["ci_low"], "ci_high": worst["ci_high"],
                                                              "verdict": worst_verdict}}
    worst = min(per_corruption, key=lambda k: min(per_corruption[k]["delta"],
                                                  per_corruption[k]["worst_severity"]["delta"]))
    verdicts = [v["verdict"] for v in per_corruption.values()]
    inferior = [k for k, v in per_corruption.items() if v["verdict"] == "inferior"]
    unproven = [k for k, v in per_corruption.items() if v["verdict"] != "non-inferior"]
    if inferior:
        verdict, reason = "inferior", f"worse by more than the margin under {', '.join(inferior)}"
    elif not unproven:
        verdict, reason = "non-inferior", "every corruption's lower bound is above the margin"
    else:
        verdict, reason = "inconclusive", f"not shown under {', '.join(unproven)}"
    return {"name": name, "verdict": verdict, "reason": reason, "worst_corruption": worst,
            "worst_delta": per_corruption[worst]["delta"],
            "worst_severity_delta": per_corruption[worst]["worst_severity"]["delta"], "per_corruption": per_corruption,
            "counts": {v: verdicts.count(v) for v in ("non-inferior", "inconclusive", "inferior")}}


def corruption_verdict(average: str, average_reason: str, worst: str, worst_reason: str, severity: int) -> tuple[str, str]:
    """One corruption's verdict from its severity average and its worst severity (intersection-union)."""
    if "inferior" in (average, worst):
        which = "the average over severities" if average == "inferior" else f"severity {severity}"
        return "inferior", f"{which}: {average_reason if average == 'inferior' else worst_reason}"
    if average == worst == "non-inferior":
        return "non-inferior", f"both the average over severities and severity {severity} are non-inferior"
    which = "the average over severities" if average != "non-inferior" else f"severity {severity}"
    return "inconclusive", f"{which}: {average_reason if average != 'non-inferior' else worst_reason}"


def _describe(corruption: Corruption) -> dict[str, Any]:
    return {"name": corruption.name, "params": list(corruption.params), "description": corruption.description}
