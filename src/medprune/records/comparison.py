"""comparison.json: every technique of a recipe measured side by side with the reference, and its verdict."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from medprune.records.base import Record


class ReferenceModel(BaseModel):
    path: str
    architecture: str


class ModelRow(BaseModel):
    """What every row of the table has, whatever the task; the reference is the first row (no verdict, no steps)."""

    model_config = ConfigDict(extra="allow")  # robustness cells and later figures ride along

    name: str
    techniques: list[str]
    steps: list[dict[str, Any]]
    wall_time_s: float | None
    params: int
    macs: int  # classification: per input; segmentation: per sliding-window patch
    size_bytes: int
    size_gzip_bytes: int
    latency_ms: dict[str, dict[str, float] | None]  # by runtime, then batch (or "case"); None where it cannot run
    size_gzip_ratio: float
    verdict: str = "reference"
    failed_endpoints: list[str] = []


class Row(ModelRow):
    """A classifier's row: AUROC with its interval, the rates at the reference threshold, calibration."""

    auroc: float
    auroc_ci: list[float]
    sensitivity: float | None
    specificity: float | None
    ece: float
    fastest_b32_ms: float
    speedup_b32_vs_reference_pytorch: float


class SegmentationRow(ModelRow):
    """A segmentation model's row: mean test Dice and HD95 per structure, latency per whole case (batch 1)."""

    dice: dict[str, float]
    hd95: dict[str, float]
    fastest_case_ms: float
    speedup_case_vs_reference_pytorch: float


class ComparisonBase(Record):
    recipe: dict[str, Any]
    data: dict[str, Any]
    reference: ReferenceModel
    budget: dict[str, Any]
    validation: dict[str, Any]  # the recipe's protocol, with the endpoints and margins it judged
    measure: dict[str, Any]  # the recipe's settings and the measurement conditions
    versions: dict[str, Any]

    @classmethod
    def read(cls, record: dict[str, Any]) -> ComparisonRecord | SegmentationComparison:
        """The typed record of a comparison.json of either task."""
        kind = SegmentationComparison if record.get("task") == "segmentation" else ComparisonRecord
        return kind.model_validate(record)


class ComparisonRecord(ComparisonBase):
    """comparison.json of classifiers."""

    threshold: float | None
    rows: list[Row]


class SegmentationComparison(ComparisonBase):
    """comparison.json of segmentation models: judged per structure on the same test cases."""

    task: Literal["segmentation"] = "segmentation"
    structures: list[str]
    spacing_unit: str  # of HD95: mm, or px for images stored without a pixel size
    rows: list[SegmentationRow]
    too_few: list[str] = []  # what these test cases are too few to show, said plainly beside the table


class EntryRecord(Record):
    """entries/<name>/entry.json: one finished row, reused by --resume when its settings are unchanged."""

    name: str
    folder: str
    model_path: str
    steps: list[dict[str, Any]]
    wall_time_s: float
    reused: bool = False
    settings: dict[str, Any] | None = None

    def row_cells(self) -> dict[str, Any]:
        """What the row of the comparison table says of how this model was made."""
        return {"name": self.name, "techniques": [s["technique"] for s in self.steps], "steps": self.steps,
                "wall_time_s": self.wall_time_s, "reused": self.reused, "model_path": self.model_path}


# The reference's row: no steps, not timed as a technique.
REFERENCE_CELLS = {"name": "reference", "techniques": [], "steps": [], "wall_time_s": None}
