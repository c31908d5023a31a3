"""The data audit's record: duplicates within and across splits, leakage, redundancy, patients in two splits."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from medprune.records.base import Record


class Method(BaseModel):
    exact: str
    near: str  # phash hamming, feature cosine or euclidean
    threshold: float


class PairSummary(BaseModel):
    count: int
    exact: int
    near: int
    pairs: list[dict[str, Any]]  # {"a", "b", "kind"}: positions within the splits, never identifiers
    truncated: bool


class Duplicates(BaseModel):
    within: dict[str, PairSummary]  # by split
    across: dict[str, PairSummary]  # by split pair, e.g. "train-test"


class Redundancy(BaseModel):
    clusters: int
    cases_in_clusters: int
    removable: int
    largest: int
    per_class: dict[str, int] | None  # None for segmentation: every case holds every structure


class AuditRecord(Record):
    data: dict[str, Any]
    group_leakage: dict[str, dict[str, int]] | None  # None when the data name no patients
    method: Method
    duplicates: Duplicates
    leakage: dict[str, dict[str, Any]]
    redundancy: dict[str, Redundancy]
