"""What `data prune` kept: the score, the share of training cases kept per class, and how they were scored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from medprune.records.base import Record


class ClassCount(BaseModel):
    before: int
    after: int


class DataSubsetRecord(Record):
    score: str
    kept_fraction: float
    per_class: dict[str, ClassCount]
    selection: dict[str, Any]
    proxy: dict[str, Any]  # the proxy model that scored the cases
    scoring_wall_time_s: float

    def said(self) -> str:
        """One line for the console."""
        per_class = ", ".join(f"{name} {c.before}->{c.after}" for name, c in self.per_class.items())
        return (f"kept {self.kept_fraction:.3f} of the training cases by {self.score} ({per_class}); scoring took "
                f"{self.scoring_wall_time_s:.0f} s")
