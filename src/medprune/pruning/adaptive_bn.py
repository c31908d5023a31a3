"""Adaptive BatchNorm (Li et al., EagleEye, 2020): after channels are removed, the running statistics of
every BatchNorm layer are re-estimated on training batches, so a pruned model is judged, and fine-tuned
from, the activations it actually produces rather than those of the dense model it came from."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: list[torch.Tensor]) -> nn.Module:
    """Re-estimate BatchNorm statistics of a pruned model (cumulative average over the batches)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or not batches:
        return model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for x in batches:
        model(x)
    for m in norms:
        m.momentum = 0.1
    return model.eval()
