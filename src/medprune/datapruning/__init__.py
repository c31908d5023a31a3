"""Pruning the data: score training cases (el2n, grand, forgetting, prototype, random), keep a share."""

from medprune.datapruning import scores  # noqa: F401  (registers the scores)
from medprune.datapruning.prune import prune_data
from medprune.datapruning.score import SCORES, ProxySettings
from medprune.datapruning.select import Selection, select

__all__ = ["SCORES", "ProxySettings", "Selection", "prune_data", "select"]
