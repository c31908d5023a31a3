"""`regularize`: sparse training (L1, L2, group-lasso or BatchNorm-gamma L1 "network slimming"),
then structured pruning of the channels the penalty drove towards zero, then fine-tuning.

Penalties are sums over the network scaled by `strength`; each penalty is paired with the pruning
criterion that ranks what it shrinks (BN-gamma L1 with `bn_scale`, group-lasso with channel L2 norms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from medprune.models.conv import CONV_LAYERS
from medprune.compress.prune import prune_structured
from medprune.schema import checked
from medprune.compress.technique import (Context, FinetuneOptions, Technique, compressed_spec,
                                         register_technique, require_pytorch)
from medprune.errors import ConfigError
from medprune.models.checkpoint import Checkpoint
from medprune.pruning.groups import classifier_layers
from medprune.pruning.target import Target
from medprune.pruning.unstructured import copy_model

Penalty = Literal["l1", "l2", "group-lasso", "bn-gamma"]
DEFAULT_STRENGTH = {"l1": 1e-6, "l2": 1e-5, "group-lasso": 1e-4, "bn-gamma": 1e-4}
CRITERION = {"l1": "magnitude", "l2": "magnitude-l2", "group-lasso": "magnitude-l2", "bn-gamma": "bn_scale"}
NEAR_ZERO = 1e-2  # a channel whose scale (or norm) is below this share of its layer's largest


def _weights(model: nn.Module, n_classes: int) -> list[torch.Tensor]:
    heads = set(map(id, classifier_layers(model, n_classes)))
    return [m.weight for m in model.modules() if isinstance(m, (*CONV_LAYERS, nn.Linear)) and id(m) not in heads]


def _gammas(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine]


def make_penalty(kind: Penalty, strength: float, model: nn.Module, n_classes: int) -> Callable[[nn.Module], torch.Tensor]:
    if kind == "bn-gamma":
        tensors = _gammas(model)
        if not tensors:
            raise ConfigError("penalty bn-gamma needs BatchNorm layers, and this model has none: use group-lasso")
        return lambda _: strength * sum(g.abs().sum() for g in tensors)
    tensors = _weights(model, n_classes)
    if kind == "l1":
        return lambda _: strength * sum(w.abs().sum() for w in tensors)
    if kind == "l2":
        return lambda _: strength * sum(w.pow(2).sum() for w in tensors)
    return lambda _: strength * sum(w.flatten(1).norm(dim=1).sum() for w in tensors)  # one group per output channel


def near_zero_share(kind: Penalty, model: nn.Module, n_classes: int) -> float:
    """Share of channels whose scale (BN gamma) or weight norm is near zero relative to their layer."""
    tensors = _gammas(model) if kind == "bn-gamma" else _weights(model, n_classes)
    sizes = [t.detach().abs() if t.dim() == 1 else t.detach().flatten(1).norm(dim=1) for t in tensors]
    small = sum(int((s < NEAR_ZERO * s.max()).sum()) for s in sizes)
    return small / max(1, sum(len(s) for s in sizes))


@register_technique
class Regularize(Technique):
    """Sparse training (L1, L2, group-lasso, BN-gamma), then pruning what it shrank."""

    name = "regularize"
    not_for_segmentation = "its sparse training adds the penalty to the classification loss (cross-entropy on labels)"

    class Options(FinetuneOptions):
        technique: Literal["regularize"] = "regularize"
        penalty: Penalty = "bn-gamma"
        strength: float | None = Field(default=None, gt=0, description="penalty weight (default per penalty)")
        sparse_epochs: int | None = Field(default=None, ge=1, description="sparse-training epochs (default: budget)")
        target: str = "macs=0.5"

        _target = field_validator("target")(lambda v: checked(Target.parse, v))

    def apply(self, model: Checkpoint, ctx: Context) -> Checkpoint:
        require_pytorch(model, "regularize")
        o, n_classes = self.options, ctx.dataset.n_classes
        net = copy_model(model.model)
        strength = o.strength if o.strength is not None else DEFAULT_STRENGTH[o.penalty]
        penalty = make_penalty(o.penalty, strength, net, n_classes)
        before = near_zero_share(o.penalty, net, n_classes)
        # Model selection keeps the best *sparse* epoch, not the dense starting point.
        ctx.finetune(net, epochs=o.sparse_epochs, penalty=penalty, keep_start=False)
        self.details.update(strength=strength, near_zero_channels_before=before,
                            near_zero_channels_after=near_zero_share(o.penalty, net, n_classes),
                            criterion=CRITERION[o.penalty])
        pruned, self.details["achieved"] = prune_structured(Checkpoint(net, model.spec), ctx, CRITERION[o.penalty],
                                                            o.target, o.epochs)
        return Checkpoint(model=pruned.model, spec=compressed_spec(model, ctx, self))
