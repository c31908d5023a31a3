"""First-order Taylor: the loss change from removing a weight or channel, w * dL/dw (Molchanov et al. 2017, 2019).

Signed per weight and summed inside a channel before taking the magnitude, so a channel whose
weights' contributions cancel is correctly judged unimportant.
"""

from __future__ import annotations

from torch import nn

from medprune.pruning.criterion import (CRITERIA, CalibrationData, Criterion, Scores, accumulate_gradients,
                                        weight_of)


@CRITERIA.register("taylor")
class TaylorCriterion(Criterion):
    aggregate = "abs_sum"

    def score(self, model: nn.Module, data: CalibrationData | None) -> Scores:
        grads = accumulate_gradients(model, data)
        return {m: weight_of(m).detach() * g for m, g in grads.items()}
