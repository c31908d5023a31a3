"""Magnitude: |w|^p (L1 by default, L2 as `magnitude-l2`); the classic data-free baseline (Han et al. 2015)."""

from __future__ import annotations

from torch import nn

from medprune.pruning.criterion import CRITERIA, CalibrationData, Criterion, Scores, scored_modules, weight_of


@CRITERIA.register("magnitude")
class MagnitudeCriterion(Criterion):
    """L1 magnitude |w| (Han et al. 2015; Li et al. 2017 for filters)."""

    needs_data = False
    p = 1

    def score(self, model: nn.Module, data: CalibrationData | None) -> Scores:
        return {m: weight_of(m).detach().abs() ** self.p for m in scored_modules(model)}


@CRITERIA.register("magnitude-l2")
class MagnitudeL2Criterion(MagnitudeCriterion):
    """L2 magnitude w^2 (summed per channel: the squared filter norm)."""

    p = 2
