"""Typed run records read the files written before they were typed, keep keys they do not declare, and refuse a
record that lacks what a reader needs."""

import pytest
from pydantic import ValidationError

from medprune.records import SegmentationMetrics


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
    assert record.to_json_dict() == {**older, "schema_version": 1}  # nothing lost, the unknown key included


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
