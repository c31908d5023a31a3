"""Clinical validation of a compressed model: non-inferiority, operating point, calibration, subgroups."""

from medprune.validation.noninferiority import NonInferiority, holm_adjust
from medprune.validation.paired_metrics import PAIRED_METRICS, Predictions
from medprune.validation.protocol import Protocol
from medprune.validation.subgroups import read_subgroup_file
from medprune.validation.validate import ValidationReport, validate

__all__ = ["PAIRED_METRICS", "NonInferiority", "Predictions", "Protocol", "ValidationReport", "holm_adjust",
           "read_subgroup_file", "validate"]
