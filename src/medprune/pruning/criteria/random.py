"""Random scores: the control every criterion must beat."""

from __future__ import annotations

import torch
from torch import nn

from medprune.pruning.criterion import CRITERIA, CalibrationData, Criterion, Scores, scored_modules, weight_of


@CRITERIA.register("random")
class RandomCriterion(Criterion):
    needs_data = False

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def score(self, model: nn.Module, data: CalibrationData | None) -> Scores:
        return {m: torch.rand(weight_of(m).shape, generator=self.generator) for m in scored_modules(model)}
