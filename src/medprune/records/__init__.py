"""Typed, versioned run records: what a verb writes to JSON (metrics.json, ...) and reads back.

Each record is a pydantic model. Files written before a record was typed still read (missing fields take their
defaults, unknown keys ride along), and `schema_version` says which shape a file has.
"""

from medprune.records.audit import AuditRecord
from medprune.records.base import Record
from medprune.records.comparison import ComparisonBase, ComparisonRecord, SegmentationComparison
from medprune.records.prediction import PredictionSummary
from medprune.records.search import SearchRecord
from medprune.records.segmentation_metrics import SegmentationMetrics

__all__ = ["AuditRecord", "ComparisonBase", "ComparisonRecord", "PredictionSummary", "Record", "SearchRecord",
           "SegmentationComparison", "SegmentationMetrics"]
