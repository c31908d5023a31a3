"""Pruning: importance criteria (registry), unstructured masks, structured channel removal, schedules."""

from medprune.pruning import criteria  # noqa: F401  (registers the criteria)
from medprune.pruning.criterion import CRITERIA, CalibrationData, Criterion
from medprune.pruning.engine import Pruner
from medprune.pruning.prune import prune_checkpoint
from medprune.pruning.settings import PruneSettings
from medprune.pruning.target import Schedule, Target

__all__ = ["CRITERIA", "CalibrationData", "Criterion", "PruneSettings", "Pruner", "Schedule", "Target",
           "prune_checkpoint"]
