"""Importance criteria, one per module; each registers itself in `CRITERIA`."""

from medprune.pruning.criteria import bn_scale, grasp, hessian, magnitude, random, snip, synflow, taylor

__all__ = ["bn_scale", "grasp", "hessian", "magnitude", "random", "snip", "synflow", "taylor"]
