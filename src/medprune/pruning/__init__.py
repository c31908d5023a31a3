"""Pruning: importance criteria (registry), unstructured masks, structured channel removal, schedules."""

from medprune.pruning import criteria  # noqa: F401  (registers the criteria)
from medprune.pruning.criterion import CRITERIA, CalibrationData, Criterion
from medprune.pruning.prune import PruneSettings, PruningRun, run_schedule
from medprune.pruning.target import Schedule, Target

__all__ = ["CRITERIA", "CalibrationData", "Criterion", "PruneSettings", "PruningRun", "Schedule", "Target",
           "run_schedule"]
