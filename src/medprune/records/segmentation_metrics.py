"""metrics.json of a segmentation model: per-structure means, per-case metrics (by index) and efficiency."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from medprune.records.base import Record

EMPTY_MASKS = ("Dice and NSD 1 when both are empty, 0 when one is; HD95 0 when both are empty, the case's diagonal "
               "when one is")


class StructureSummary(BaseModel):
    """Means over the split's cases of one structure (HD95 also its median); distances in the data's unit."""

    dice: float
    hd95_mm: float
    hd95_median_mm: float
    nsd: float
    volume_error_ml: float


class Conventions(BaseModel):
    nsd_tolerance_mm: float
    spacing_unit: Literal["mm", "px"] = "mm"  # px: images stored without a pixel size
    empty_masks: str = EMPTY_MASKS

    @property
    def volume_unit(self) -> str:
        return "mL" if self.spacing_unit == "mm" else "1000 px"


class Latency(BaseModel):
    """Median milliseconds, batch 1: a whole case (sliding windows) and one patch, on `device` (the CPU unless
    evaluate was given --latency-device)."""

    per_case_ms: float
    per_patch_ms: float
    threads: int
    repeats: int
    device: str = "cpu"


class Efficiency(BaseModel):
    params: int
    nonzero_params: int
    macs_per_patch: int
    size_bytes: int
    size_gzip_bytes: int
    latency: Latency
    runtime: str
    peak_memory_bytes: int  # -1 where it is not measured (exported runtimes)


class SegmentationMetrics(Record):
    task: Literal["segmentation"] = "segmentation"
    split: str
    n_cases: int
    structures: list[str]
    mean_dice: float
    per_structure: dict[str, StructureSummary]
    conventions: Conventions
    cases: dict[str, list[Any]]  # CaseMetrics.to_dict(): per case (by index) and structure
    inference: dict[str, Any]  # the sliding-window settings, as the checkpoint spec records them
    efficiency: Efficiency
    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any] | None = None
    imported: dict[str, Any] | None = None
    pruning: dict[str, Any] | None = None
    reference: SegmentationMetrics | None = None  # a pruned model's record holds its dense model's
