"""A PyTorch model prepared for CPU inference: BatchNorm folded into the convolutions before it, and
activations in channels-last layout, which oneDNN's convolutions prefer on x86 CPUs."""

from __future__ import annotations

import torch
from torch import nn


class _ChannelsLast(nn.Module):
    """Feeds its model channels-last inputs (4D images or 5D volumes)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
        return self.model(x.contiguous(memory_format=layout))


def for_cpu_inference(model: nn.Module, *, channels_last: bool = True) -> nn.Module:
    """A copy of `model` for inference only: BatchNorm folded into the preceding convolution wherever the
    graph allows (torch.fx), then, with `channels_last`, weights and inputs in channels-last layout.

    The outputs equal the model's in eval mode up to float rounding. Models that torch.fx cannot trace keep
    their BatchNorm layers.
    """
    import copy
    import warnings

    from torch.fx.experimental.optimization import fuse

    model = copy.deepcopy(model).eval()
    try:
        with warnings.catch_warnings():  # deprecation chatter from fx internals
            warnings.simplefilter("ignore")
            model = fuse(model)
    except Exception:  # data-dependent control flow: fx cannot trace it; BatchNorm stays unfused
        pass
    if not channels_last:
        return model
    volumes = any(isinstance(m, nn.Conv3d) for m in model.modules())
    return _ChannelsLast(model.to(memory_format=torch.channels_last_3d if volumes else torch.channels_last)).eval()
