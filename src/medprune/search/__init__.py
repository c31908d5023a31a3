"""Searched per-layer pruning: learners propose keep ratios, adaptive BN scores them, Optuna stores them."""

from medprune.search.learners import LEARNERS
from medprune.search.run import RunOptions, search
from medprune.search.study import SearchConfig

__all__ = ["LEARNERS", "RunOptions", "SearchConfig", "search"]
