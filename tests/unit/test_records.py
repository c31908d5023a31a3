"""Typed run records read the files written before they were typed, keep keys they do not declare, and refuse a
record that lacks what a reader needs."""

import json

import numpy as np
import pytest
from pydantic import ValidationError

from medprune import validate_predictions
from medprune._atomic import json_text
from medprune.comparison.recipe import ValidationSettings
from medprune.comparison.segmentation import segmentation_margins
from medprune.errors import ConfigError
from medprune.records import ComparisonBase, ComparisonRecord, SearchRecord, SegmentationComparison, SegmentationMetrics
from medprune.report.comparison import render_comparison_markdown
from medprune.validation.segmentation import SegmentationMargins
from medprune.records.validation import ClassificationValidation, SegmentationValidation, ValidationRecord
from medprune.report.search import render_search_report


def _older_metrics() -> dict:
    """metrics.json as a segmentation run wrote it before records were typed (no schema_version)."""
    structure = {"dice": 0.87, "hd95_mm": 1.7, "hd95_median_mm": 1.41, "nsd": 0.91, "volume_error_ml": -0.03}
    return {"task": "segmentation", "split": "test", "n_cases": 2, "structures": ["anterior"], "mean_dice": 0.87,
            "per_structure": {"anterior": structure},
            "conventions": {"nsd_tolerance_mm": 1.0, "spacing_unit": "mm", "empty_masks": "as documented"},
            "cases": {"structures": ["anterior"], "dice": [[0.86], [0.88]]},
            "inference": {"patch_size": [48, 64, 48], "overlap": 0.25},
            "efficiency": {"params": 10, "nonzero_params": 10, "macs_per_patch": 100, "size_bytes": 40,
                           "size_gzip_bytes": 30, "runtime": "pytorch", "peak_memory_bytes": 1000,
                           "latency": {"per_case_ms": 85.9, "per_patch_ms": 84.5, "threads": 2, "repeats": 10}},
            "data": {"name": "hippocampus"}, "model": {"name": "unet"},
            "training": {"config": {"epochs": 16}}, "written_by_a_later_version": {"kept": True}}


def test_an_older_metrics_file_reads_typed_and_writes_back_unchanged():
    older = _older_metrics()
    record = SegmentationMetrics.model_validate(older)
    assert record.schema_version == 1
    assert record.per_structure["anterior"].dice == 0.87
    assert record.efficiency.latency.per_case_ms == 85.9
    assert record.conventions.volume_unit == "mL"
    written = _older_metrics()
    written["efficiency"]["latency"]["device"] = "cpu"  # declared after this shape was written: its default
    assert record.to_json_dict() == {**written, "schema_version": 1}  # nothing lost, the unknown key included


def test_a_pruned_record_holds_its_dense_reference_typed():
    pruned = {**_older_metrics(), "pruning": {"criterion": "taylor"}, "reference": _older_metrics()}
    record = SegmentationMetrics.model_validate(pruned)
    assert isinstance(record.reference, SegmentationMetrics)
    assert record.reference.per_structure["anterior"].hd95_mm == 1.7


def test_pixel_images_report_volumes_in_pixels():
    older = _older_metrics()
    older["conventions"]["spacing_unit"] = "px"
    assert SegmentationMetrics.model_validate(older).conventions.volume_unit == "1000 px"


def test_a_record_missing_what_its_readers_need_is_refused():
    older = _older_metrics()
    del older["efficiency"]["latency"]
    with pytest.raises(ValidationError, match="latency"):
        SegmentationMetrics.model_validate(older)


def test_undefined_figures_stay_undefined_and_absent_sections_stay_absent():
    older = _older_metrics()
    older["cases"]["hd95"] = [[float("inf")], [float("nan")]]  # never turned into null (which reads as "missing")
    out = SegmentationMetrics.model_validate(older).to_json_dict()
    assert out["cases"]["hd95"][0][0] == float("inf") and out["cases"]["hd95"][1][0] != out["cases"]["hd95"][1][0]
    assert "pruning" not in out and "reference" not in out


def _search_record(best: bool) -> dict:
    trial = {"number": 0, "objective": 0.95, "value": 0.95, "cost_ratio": 0.48, "feasible": True, "repaired": False}
    ratios = {"features.0": 0.5, "features.3": 0.75}
    record = {"sampler": "tpe", "trials": 1, "objective": "auroc", "require": [], "operating_margin": 0.05,
              "target": "macs=0.5", "criterion": "taylor",
              "counts": {"finished": 1, "repaired": 0, "rejected": 0, "infeasible": 0, "failed": 0,
                         "stale_marked_failed": 0, "warm_started": 0},
              "wall_time_s": 12.0, "workers": 1, "backend": "local", "storage": "sqlite:///study.db",
              "history": [trial], "best_so_far": [0.95],
              "pareto": [{"number": 0, "objective": 0.95, "cost_ratio": 0.48, "macs_ratio": 0.48}],
              "uniform": {"ratios": ratios, "cost_ratio": 0.5, "macs_ratio": 0.5},
              "top": [{"trial": 0, "objective": 0.95, "ratios": ratios}], "config": {"seed": 0}, "best": None}
    if best:
        record["best"] = {"trial": 0, "ratios": ratios, "objective": 0.95, "objective_after_finetune": 0.96,
                          "validation_after_finetune": {"objective": 0.96, "sensitivity": 0.9},
                          "requirements_met_on_validation": True, "macs_ratio": 0.48, "cost_ratio": 0.48,
                          "latency_ms": 3.0, "dense_latency_ms": 5.0, "runtime": "torch",
                          "test": {"auroc": 0.95, "sensitivity": 0.9, "specificity": 0.85}, "dir": "best",
                          "short_finetune": [{"trial": 0, "objective": 0.96, "requirements_met": True}],
                          "operating_point_shift": {"sensitivity": {"dense": 0.95, "searched": 0.85}}}
    return record


def test_a_search_without_a_feasible_trial_keeps_best_null():
    record = SearchRecord.model_validate(_search_record(best=False))
    assert record.best is None and record.to_json_dict()["best"] is None
    assert (record.target_kind, record.target_value) == ("macs", 0.5)


def test_the_search_page_renders_from_the_typed_record():
    record = SearchRecord.model_validate(_search_record(best=True))
    html = render_search_report(record)
    assert "tpe" in html and "0.9600" in html  # the objective after fine-tuning
    assert "validation sensitivity is 0.850" in html  # the operating point it lost, said in red
    written = _search_record(best=True)
    written["best"]["latency_batch"] = 32  # declared after this shape was written: its default
    assert record.to_json_dict() == {**written, "schema_version": 1}


def _older_validation() -> dict:
    """validation.json of validate_predictions as written before the record was typed (no schema_version)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1)
    report = validate_predictions(y, scores, {"same": scores}, threshold=0.5, margins=0.05, positive_class=1)
    older = json.loads(json_text(report.to_dict()))
    del older["schema_version"]
    return {**older, "written_by_a_later_version": {"kept": True}}


def test_an_older_validation_file_reads_typed_and_writes_back_unchanged():
    older = _older_validation()
    record = ValidationRecord.read(older)
    assert isinstance(record, ClassificationValidation)
    assert record.verdicts == {"same": "non-inferior"}
    assert record.candidates[0].endpoints["auroc"].delta == 0
    assert record.protocol.margins["auroc"] == 0.05
    assert "modal_exemplars" not in record.to_json_dict()  # one candidate: never given, so not written
    assert json.loads(json_text(record.to_json_dict())) == {**older, "schema_version": 1}


def test_a_segmentation_validation_file_reads_as_its_task():
    endpoint = {"name": "dice:anterior", "margin": 0.02, "reference": 0.87, "candidate": 0.86, "delta": -0.01,
                "ci_low": -0.015, "ci_high": -0.005, "p_noninferiority": 0.001, "method": "paired", "verdict":
                "non-inferior", "reason": "lower bound above -0.02"}
    cases = {"structures": ["anterior"], "dice": [[0.86], [0.88]]}
    older = {"task": "segmentation", "class_names": ["background", "anterior"], "structures": ["anterior"],
             "protocol": {"split": "test", "confidence_level": 0.95, "alpha": 0.05, "n_resamples": 2000, "seed": 0,
                          "min_cases": 20, "margins": {"dice:anterior": 0.02}, "segmentation_margins": {
                              "dice": 0.02, "hd95_mm": 1.0, "dice_fall": 0.1, "fall_share": 0.05},
                          "conventions": {"spacing_unit": "px"}},
             "too_few_cases": "", "reference": {"name": "dense", "cases": cases},
             "candidates": [{"name": "pruned", "verdict": "non-inferior", "verdict_reason": "every endpoint",
                             "endpoints": {"dice:anterior": endpoint}, "cases": cases}]}
    record = ValidationRecord.read(older)
    assert isinstance(record, SegmentationValidation)
    assert record.protocol.volume_unit == "1000 px"
    assert record.candidates[0].endpoints["dice:anterior"].verdict == "non-inferior"
    assert record.to_json_dict() == {**older, "schema_version": 1}
    with pytest.raises(ValidationError, match="endpoints"):
        ValidationRecord.read({**older, "candidates": [{"name": "pruned", "verdict": "x", "verdict_reason": "",
                                                        "cases": cases}]})


def _comparison_row(name: str, **figures) -> dict:
    return {"name": name, "techniques": [], "steps": [], "wall_time_s": None, "params": 10, "macs": 20,
            "size_bytes": 100, "size_gzip_bytes": 90, "latency_ms": {"pytorch": {"case": 4.0}, "onnxruntime": None,
                                                                       "openvino": {"case": 2.0}},
            "size_gzip_ratio": 1.0, **figures}


def test_a_comparison_file_reads_as_its_task_and_older_ones_are_classifiers():
    shared = {"recipe": {}, "data": {"name": "blobs"}, "reference": {"path": "ref/model.pt", "architecture": "unet"},
              "budget": {"epochs": 1, "lr": 0.001}, "measure": {"latency_repeats": 3, "threads": 2}, "versions": {}}
    segmentation = {**shared, "task": "segmentation", "structures": ["front", "back"], "spacing_unit": "mm",
                    "validation": {"min_cases": 40, "segmentation_margins": {"dice": 0.02, "hd95_mm": 1.0,
                                                                             "dice_fall": 0.1, "fall_share": 0.05}},
                    "rows": [_comparison_row("reference", dice={"front": 0.9, "back": 0.8},
                                             hd95={"front": 1.0, "back": 2.0}, fastest_case_ms=2.0,
                                             speedup_case_vs_reference_pytorch=2.0)]}
    record = ComparisonBase.read(segmentation)
    assert isinstance(record, SegmentationComparison) and record.rows[0].dice["back"] == 0.8
    markdown = render_comparison_markdown(record)
    assert "| reference |" in markdown and "0.9000 / 0.8000" in markdown and "HD95 (mm)" in markdown
    classifier = {**shared, "threshold": 0.5, "validation": {"margins": {"auroc": 0.01}},
                  "rows": [_comparison_row("reference", auroc=0.9, auroc_ci=[0.85, 0.95], sensitivity=0.8,
                                           specificity=0.7, ece=0.03, fastest_b32_ms=2.0,
                                           speedup_b32_vs_reference_pytorch=2.0)]}
    assert isinstance(ComparisonBase.read(classifier), ComparisonRecord)  # written before compare knew two tasks


def test_a_recipes_margins_read_as_segmentation_margins():
    assert segmentation_margins(ValidationSettings()) == SegmentationMargins()
    assert segmentation_margins(ValidationSettings(margins=0.03)) == SegmentationMargins(dice=0.03)
    assert segmentation_margins(ValidationSettings(margins={"dice": 0.05, "hd95": 2})) == \
        SegmentationMargins(dice=0.05, hd95_mm=2)
    with pytest.raises(ConfigError, match="only a classifier's verdict reads"):
        segmentation_margins(ValidationSettings(candidate_threshold="match-sensitivity"))
