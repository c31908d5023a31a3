"""`medprune validate` for segmentation models: score every model on the same test cases, judge each candidate
(validation.segmentation), compare volumes (Bland-Altman), judge subgroups per endpoint, write validation.json
and a self-contained report.html. Cases are named by their index in the test split, never by file name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medprune._atomic import json_text, write_texts_atomic
from medprune.data.segmentation import SegmentationDataset
from medprune.errors import ConfigError, DataError
from medprune.evaluation.segmentation import CaseMetrics, score_cases
from medprune.models import Checkpoint
from medprune.records.validation import SegmentationValidation
from medprune.report.segmentation import render_segmentation_report
from medprune.segmentation.run import check_segmentation_model, inference_of
from medprune.training.segmentation import predict_masks
from medprune.validation.segmentation import (MEAN_METHOD, MIN_SEGMENTATION_CASES, SAFETY_METHOD, SegmentationMargins,
                                              bland_altman, judge_segmentation, segmentation_endpoints)
from medprune.validation.validate import sha256, software_versions

MARGIN_KEYS = {"dice": "dice", "hd95": "hd95_mm", "hd95_mm": "hd95_mm", "fall": "dice_fall", "dice_fall": "dice_fall",
               "share": "fall_share", "fall_share": "fall_share"}


def parse_segmentation_margins(text: str | None) -> SegmentationMargins:
    """`0.02` (the Dice margin) or `dice=0.02,hd95=1,dice_fall=0.1,fall_share=0.05`; None gives the defaults."""
    if text is None:
        return SegmentationMargins()
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        name, sep, value = part.rpartition("=") if "=" in part else ("dice", "=", part)
        key = MARGIN_KEYS.get(name.strip())
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if key is None or not sep or not number > 0:
            raise ConfigError(f"cannot read segmentation margin '{part}': write dice=0.02,hd95=1,dice_fall=0.1,"
                              "fall_share=0.05 (positive numbers; HD95 in mm)")
        values[key] = number
    return SegmentationMargins(**values)


def _scores(model: Checkpoint, dataset: SegmentationDataset, split: str) -> tuple[CaseMetrics, list[np.ndarray]]:
    cases = dataset.split(split)
    preds = predict_masks(model.model, cases, inference_of(model))
    return score_cases(preds, [cases.case(i)[1] for i in range(len(cases))], cases.spacing, dataset.structures), preds


def _volumes(ref: CaseMetrics, cand: CaseMetrics) -> dict[str, dict[str, Any]]:
    """Per structure: candidate against reference, and each against the ground truth."""
    return {s: {"candidate_vs_reference": bland_altman(cand.volume[:, k], ref.volume[:, k]),
                "candidate_vs_truth": bland_altman(cand.volume[:, k], cand.volume_true[:, k]),
                "reference_vs_truth": bland_altman(ref.volume[:, k], ref.volume_true[:, k])}
            for k, s in enumerate(ref.structures)}


def _subset(m: CaseMetrics, rows: np.ndarray) -> CaseMetrics:
    return CaseMetrics(m.structures, m.dice[rows], m.hd95[rows], m.nsd[rows], m.volume[rows], m.volume_true[rows])


def _subgroups(ref: CaseMetrics, cand: CaseMetrics, meta: dict[str, np.ndarray], columns: list[str],
               margins: SegmentationMargins, alpha: float, n_resamples: int, seed: int,
               min_cases: int, unit: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for column in columns:
        rows = []
        for value in sorted(set(meta[column].tolist())):
            members = np.flatnonzero(meta[column] == value)
            ends = segmentation_endpoints(_subset(ref, members), _subset(cand, members), margins=margins, alpha=alpha,
                                          n_resamples=n_resamples, seed=seed, unit=unit) if len(members) >= 2 else {}
            rows.append({"value": str(value), "n": int(len(members)), "too_few": len(members) < min_cases,
                         "endpoints": {k: e.to_dict() for k, e in ends.items()}})
        out[column] = rows
    return out


def validate_segmentation(reference: Checkpoint, candidates: list[Checkpoint], names: list[str],
                          dataset: SegmentationDataset, *, margins: SegmentationMargins, alpha: float = 0.05,
                          n_resamples: int = 2000, seed: int = 0, min_cases: int = MIN_SEGMENTATION_CASES,
                          split: str = "test", subgroups: list[str] | None = None,
                          ) -> tuple[SegmentationValidation, dict[str, list[np.ndarray]]]:
    """The validation record of candidates against the reference on `split` (see module docstring), and each
    model's predicted label maps (for the report's overlays)."""
    for model in (reference, *candidates):
        check_segmentation_model(model, dataset)
    test = dataset.split(split)
    for column in subgroups or []:
        if column not in test.meta:
            raise DataError(f"subgroup column '{column}' is not in {dataset.name}: known columns are "
                            f"{', '.join(test.meta) or 'none (load a manifest with --subgroup COLUMN)'}")
    unit = dataset.preprocessing.get("spacing_unit", "mm")  # px for images stored without a pixel size
    ref_scores, ref_preds = _scores(reference, dataset, split)
    scored = [_scores(c, dataset, split) for c in candidates]
    verdicts = judge_segmentation(ref_scores, {n: s for n, (s, _) in zip(names, scored)}, margins=margins, alpha=alpha,
                                  n_resamples=n_resamples, seed=seed, min_cases=min_cases, unit=unit)
    entries = []
    for name, model, (scores, _), verdict in zip(names, candidates, scored, verdicts):
        entries.append({"name": name, "path": str(model.path), "sha256": sha256(model.path),
                        "architecture": model.name, **verdict.to_dict(), "cases": scores.to_dict(),
                        "volumes": _volumes(ref_scores, scores),
                        "subgroups": _subgroups(ref_scores, scores, test.meta, list(subgroups or []), margins, alpha,
                                                n_resamples, seed, min_cases, unit)})
        entries[-1]["subgroup_flags"] = [f"{column}={row['value']}" for column, rows in entries[-1]["subgroups"].items()
                                         for row in rows if any(e["verdict"] == "inferior"
                                                                for e in row["endpoints"].values())]
    n = len(test)
    predictions = {"reference": ref_preds, **{name: preds for name, (_, preds) in zip(names, scored)}}
    margin_words = {**{f"dice:{s}": margins.dice for s in dataset.structures},
                    **{f"hd95:{s}": margins.hd95_mm for s in dataset.structures}, "safety": margins.fall_share}
    return SegmentationValidation.model_validate({
        "task": "segmentation", "class_names": dataset.class_names, "structures": dataset.structures,
        "protocol": {"split": split, "confidence_level": 1 - alpha, "alpha": alpha, "n_resamples": n_resamples,
                     "seed": seed, "min_cases": min_cases, "margins": margin_words, "segmentation_margins":
                     margins.to_dict(), "methods": {"mean": MEAN_METHOD, "safety": SAFETY_METHOD},
                     "conventions": {"spacing_unit": unit}},
        "too_few_cases": (f"only {n} test cases (minimum {min_cases})" if n < min_cases else ""),
        "reference": {"name": Path(str(reference.path)).parent.name or "reference", "path": str(reference.path),
                      "sha256": sha256(reference.path), "architecture": reference.name,
                      "cases": ref_scores.to_dict()},
        "candidates": entries, "data": dataset.describe(), "versions": software_versions(),
    }), predictions


def save_segmentation_validation(record: SegmentationValidation, predictions: dict[str, list[np.ndarray]],
                                 dataset: SegmentationDataset, out: Path, *, intended_use: str | None = None) -> None:
    """validation.json and report.html in `out`, both written whole or neither."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    html = render_segmentation_report(record, predictions, dataset.split(record.protocol.split),
                                      intended_use=intended_use)
    # a verdict without its report (or the reverse) is never left behind
    write_texts_atomic({out / "validation.json": json_text(record.to_json_dict()), out / "report.html": html})
