"""SNIP connection sensitivity |w * dL/dw| (Lee et al. 2019), normalised to sum to one per model."""

from __future__ import annotations

from torch import nn

from medprune.pruning.criterion import (CRITERIA, CalibrationData, Criterion, Scores, accumulate_gradients,
                                        weight_of)


@CRITERIA.register("snip")
class SnipCriterion(Criterion):
    def score(self, model: nn.Module, data: CalibrationData | None) -> Scores:
        grads = accumulate_gradients(model, data)
        scores = {m: (weight_of(m).detach() * g).abs() for m, g in grads.items()}
        total = sum(float(s.sum()) for s in scores.values()) or 1.0
        return {m: s / total for m, s in scores.items()}
