"""comparison.json: every technique of a recipe measured side by side with the reference, and its verdict."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from medprune.records.base import Record


class ReferenceModel(BaseModel):
    path: str
    architecture: str


class Row(BaseModel):
    """One model of the table; the reference is the first row (no verdict, no steps)."""

    model_config = ConfigDict(extra="allow")  # robustness cells and later figures ride along

    name: str
    techniques: list[str]
    steps: list[dict[str, Any]]
    wall_time_s: float | None
    params: int
    macs: int
    size_bytes: int
    size_gzip_bytes: int
    latency_ms: dict[str, dict[str, float] | None]  # by runtime, then batch; None where it cannot run
    auroc: float
    auroc_ci: list[float]
    sensitivity: float | None
    specificity: float | None
    ece: float
    fastest_b32_ms: float
    speedup_b32_vs_reference_pytorch: float
    size_gzip_ratio: float
    verdict: str = "reference"
    failed_endpoints: list[str] = []


class ComparisonRecord(Record):
    recipe: dict[str, Any]
    data: dict[str, Any]
    reference: ReferenceModel
    threshold: float | None
    budget: dict[str, Any]
    validation: dict[str, Any]  # the recipe's protocol, with the endpoints and margins it judged
    measure: dict[str, Any]  # the recipe's settings and the measurement conditions
    rows: list[Row]
    versions: dict[str, Any]


class EntryRecord(Record):
    """entries/<name>/entry.json: one finished row, reused by --resume when its settings are unchanged."""

    name: str
    folder: str
    model_path: str
    steps: list[dict[str, Any]]
    wall_time_s: float
    reused: bool = False
    settings: dict[str, Any] | None = None
