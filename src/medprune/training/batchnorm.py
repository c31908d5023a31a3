"""Re-estimating BatchNorm statistics on training batches, for weights whose running statistics do not
describe their own activations: a pruned model (adaptive BatchNorm, Li et al., EagleEye, 2020) and an average
of weights (SWA's update_bn, Izmailov et al. 2018)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from medprune.hardware.device import device_of


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Re-estimate a model's BatchNorm statistics: cumulative average over the input batches, in place."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    batches = list(batches)
    if not norms or not batches:  # nothing to re-estimate from: the statistics stay as they are
        return model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    device = device_of(model)
    model.train()
    for x in batches:
        model(x.to(device))
    for m in norms:
        m.momentum = 0.1
    return model.eval()
