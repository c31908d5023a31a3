"""Diagonal Fisher / Optimal Brain Damage: w^2 * E[(dL/dw)^2] (LeCun et al. 1990; Theis et al. 2018).

The expected squared gradient approximates the Hessian diagonal, so the score is the second-order
estimate of the loss increase when the weight is set to zero.
"""

from __future__ import annotations

from torch import nn

from medprune.pruning.criterion import (CRITERIA, CalibrationData, Criterion, Scores, accumulate_gradients,
                                        weight_of)


@CRITERIA.register("hessian")
class HessianCriterion(Criterion):
    def score(self, model: nn.Module, data: CalibrationData | None) -> Scores:
        fisher = accumulate_gradients(model, data, squared=True)
        return {m: weight_of(m).detach() ** 2 * f for m, f in fisher.items()}
