"""BatchNorm scale |gamma| (network slimming, Liu et al. 2017).

Structured: a channel's importance is its |gamma|. Unstructured: a weight's importance is |w| times
the |gamma| of the channel it feeds, so the scale still decides between channels.
"""

from __future__ import annotations

import torch
from torch import nn

from medprune.models.conv import CONV_LAYERS
from medprune.pruning.criterion import CRITERIA, CalibrationData, Criterion, Scores, scored_modules, weight_of


def _following_batchnorm(model: nn.Module) -> dict[nn.Module, nn.Module]:
    """Each conv mapped to the BatchNorm that comes right after it in definition order."""
    pairs, previous = {}, None
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and isinstance(previous, CONV_LAYERS) \
                and previous.out_channels == module.num_features:
            pairs[previous] = module
        if isinstance(module, (*CONV_LAYERS, nn.Linear, nn.modules.batchnorm._BatchNorm)):
            previous = module
    return pairs


@CRITERIA.register("bn_scale")
class BNScaleCriterion(Criterion):
    needs_data = False

    def score(self, model: nn.Module, data: CalibrationData | None) -> Scores:
        scores: Scores = {}
        for m in scored_modules(model):
            scores[m] = weight_of(m).detach().abs() if isinstance(m, nn.modules.batchnorm._BatchNorm) \
                else torch.zeros_like(weight_of(m))
        return scores

    def weight_scores(self, model: nn.Module, data: CalibrationData | None) -> Scores:
        bn_after = _following_batchnorm(model)
        scores: Scores = {}
        for m in scored_modules(model):
            w = weight_of(m).detach().abs()
            if m in bn_after:
                gamma = weight_of(bn_after[m]).detach().abs()
                w = w * gamma.view(-1, *([1] * (w.dim() - 1)))
            scores[m] = w
        return scores
