"""SynFlow: data-free synaptic flow |w * dR/dw| with R the output of the all-ones input through |W|
(Tanaka et al. 2020). Scored again after each of several pruning rounds, which is what keeps it
from disconnecting layers.
"""

from __future__ import annotations

import torch
from torch import nn

from medprune.pruning.criterion import CRITERIA, CalibrationData, Criterion, Scores, scored_modules, weight_of
from medprune.pruning.unstructured import copy_model


@CRITERIA.register("synflow")
class SynflowCriterion(Criterion):
    needs_data = False
    rounds = 8

    def __init__(self, input_shape: tuple[int, ...] | None = None) -> None:
        self.input_shape = input_shape

    def score(self, model: nn.Module, data: CalibrationData | None) -> Scores:
        shape = data.input_shape if data is not None else self.input_shape
        # Work on a float64 copy with |W|, so signs and overflow cannot distort the flow.
        probe = copy_model(model).double().eval()
        with torch.no_grad():
            for p in probe.parameters():
                p.abs_()
        originals, copies = scored_modules(model), scored_modules(probe)
        for p in probe.parameters():
            p.requires_grad_(True)
        probe(torch.ones(1, *shape, dtype=torch.float64)).sum().backward()
        scores = {}
        for m, c in zip(originals, copies):
            w = weight_of(c)
            scores[m] = (w * w.grad).detach().abs().float() if w.grad is not None else torch.zeros_like(weight_of(m))
        return scores
