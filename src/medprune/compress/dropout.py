"""`dropout` and `targeted-dropout`: train with channels dropped, then prune channels structurally.

Both drop whole channels at the output of every BatchNorm layer while training (per case, with
probability `rate`). `dropout` drops any channel (scaled by 1/(1-rate), as usual); `targeted-dropout`
(Gomez et al. 2019) drops only the `fraction` of each layer's channels with the smallest |gamma|, the
ones pruning by BN scale will remove, so the network learns not to rely on them. Afterwards the
channels are pruned by the same ranking (`bn_scale`) to `target` (or kept, with `target: none`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from medprune.compress.prune import prune_structured
from medprune.schema import checked
from medprune.compress.technique import (Context, FinetuneOptions, Technique, compressed_spec,
                                         register_technique, require_pytorch)
from medprune.errors import ConfigError
from medprune.models.checkpoint import Checkpoint
from medprune.pruning.target import Target
from medprune.pruning.unstructured import copy_model


def _channel_dropout(rate: float, targeted_fraction: float | None):
    def hook(module: nn.Module, _inputs, output: torch.Tensor) -> torch.Tensor:
        if not module.training:
            return output
        n, c = output.shape[:2]
        drop = torch.rand(n, c, device=output.device) < rate
        if targeted_fraction is None:
            keep = (~drop).to(output.dtype) / (1 - rate)
        else:
            k = int(targeted_fraction * c)
            candidates = torch.zeros(c, dtype=torch.bool, device=output.device)
            candidates[module.weight.detach().abs().argsort()[:k]] = True
            keep = (~(drop & candidates)).to(output.dtype)
        return output * keep.reshape(n, c, *([1] * (output.dim() - 2)))

    return hook


@contextlib.contextmanager
def channel_dropout(model: nn.Module, rate: float, targeted_fraction: float | None) -> Iterator[int]:
    """Install the dropout hooks for the duration of training; yields how many layers have them."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine]
    if not layers:
        raise ConfigError("channel dropout needs BatchNorm layers, and this model has none: use regularize "
                          "with penalty group-lasso")
    handles = [m.register_forward_hook(_channel_dropout(rate, targeted_fraction)) for m in layers]
    try:
        yield len(layers)
    finally:
        for h in handles:
            h.remove()


def _target(value: str) -> str:
    return value if value == "none" else checked(Target.parse, value)


class _DropoutTechnique(Technique):
    targeted = False
    not_for_segmentation = ("it drops and prunes channels by their BatchNorm scale, and MONAI's unet, basicunet, "
                            "dynunet and segresnet normalise by instance or group, not BatchNorm")

    def apply(self, model: Checkpoint, ctx: Context) -> Checkpoint:
        require_pytorch(model, self.name)
        o = self.options
        net = copy_model(model.model)
        fraction = o.fraction if self.targeted else None
        with channel_dropout(net, o.rate, fraction) as n_layers:
            result = ctx.finetune(net, epochs=o.dropout_epochs, keep_start=False)
        self.details.update(layers_with_dropout=n_layers,
                            best_val_auroc=result.best_val_auroc if result else None)
        if o.target == "none":
            return Checkpoint(model=net, spec=compressed_spec(model, ctx, self))
        pruned, self.details["achieved"] = prune_structured(Checkpoint(net, model.spec), ctx, "bn_scale", o.target,
                                                            o.epochs)
        return Checkpoint(model=pruned.model, spec=compressed_spec(model, ctx, self))


@register_technique
class Dropout(_DropoutTechnique):
    """Channel dropout while training, then pruning by BN scale."""

    name = "dropout"

    class Options(FinetuneOptions):
        technique: Literal["dropout"] = "dropout"
        rate: float = Field(default=0.1, gt=0, lt=1)
        dropout_epochs: int | None = Field(default=None, ge=1, description="training epochs with dropout")
        target: str = "macs=0.5"

        _target = field_validator("target")(_target)


@register_technique
class TargetedDropout(_DropoutTechnique):
    """Dropout of the smallest-|gamma| channels while training (Gomez et al. 2019), then pruning them."""

    name = "targeted-dropout"
    targeted = True

    class Options(FinetuneOptions):
        technique: Literal["targeted-dropout"] = "targeted-dropout"
        rate: float = Field(default=0.5, gt=0, le=1, description="drop probability of a targeted channel")
        fraction: float = Field(default=0.5, gt=0, lt=1, description="share of each layer's channels targeted")
        dropout_epochs: int | None = Field(default=None, ge=1, description="training epochs with dropout")
        target: str = "macs=0.5"

        _target = field_validator("target")(_target)
