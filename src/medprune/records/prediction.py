"""What `predict` hands back: how many cases, how they were decided, and which looked unlike the training data."""

from __future__ import annotations

from typing import Literal

from medprune.records.base import Record


class PredictionSummary(Record):
    task: Literal["classification", "segmentation"] = "classification"
    cases: int
    out: str  # the CSV written
    predicted: dict[str, int] = {}  # decisions per class (classification)
    threshold: float | None = None
    unknown_categories: dict[str, int] = {}  # table rows with a category the model never saw, per column
    out_of_distribution: int | None = None  # cases flagged by the input check (None: the model has no profile)
    withheld: int = 0  # decisions withheld with --reject-ood
    masks: str | None = None  # the folder of label maps (segmentation)
