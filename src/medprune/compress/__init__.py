"""Compression techniques beyond pruning, each registered by name and chainable:
prune, quantize, lowrank, distill, regularize, dropout, targeted-dropout."""

from medprune.compress import distill, dropout, lowrank, prune, quantize, regularize  # noqa: F401  (registers)
from medprune.compress.chain import check_chain, run_chain
from medprune.compress.technique import TECHNIQUES, Budget, Context, StepOptions, Technique, check_task

__all__ = ["TECHNIQUES", "Budget", "Context", "StepOptions", "Technique", "check_chain", "check_task", "run_chain"]
