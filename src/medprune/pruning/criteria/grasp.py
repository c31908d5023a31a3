"""GraSP: keep the weights that preserve gradient flow, importance w * (H g) (Wang et al. 2020).

GraSP removes the weights with the largest -w * Hg; equivalently it keeps the largest w * Hg,
which is the score returned here (signed: negative scores are pruned first).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medprune.pruning.criterion import CRITERIA, CalibrationData, Criterion, Scores, scored_modules, weight_of


@CRITERIA.register("grasp")
class GraspCriterion(Criterion):
    signed = True

    def score(self, model: nn.Module, data: CalibrationData | None) -> Scores:
        modules = scored_modules(model)
        weights = [weight_of(m) for m in modules]
        was_training = model.training
        model.eval()
        grads = [torch.zeros_like(w) for w in weights]
        for x, y in data:  # g: the gradient over all calibration batches, held constant
            for acc, g in zip(grads, torch.autograd.grad(F.cross_entropy(model(x), y), weights, allow_unused=True)):
                if g is not None:
                    acc += g
        hg = [torch.zeros_like(w) for w in weights]
        for x, y in data:  # Hg = d(g_batch . g)/dw, by double back-propagation
            g_batch = torch.autograd.grad(F.cross_entropy(model(x), y), weights, create_graph=True, allow_unused=True)
            dot = sum((gb * g).sum() for gb, g in zip(g_batch, grads) if gb is not None)
            for acc, h in zip(hg, torch.autograd.grad(dot, weights, allow_unused=True)):
                if h is not None:
                    acc += h.detach()
        model.train(was_training)
        return {m: w.detach() * h for m, w, h in zip(modules, weights, hg)}
