"""`lowrank`: truncated SVD of Linear layers and channel SVD of convolutions, then fine-tuning.

Each layer's rank is the smallest that keeps a share `energy` of its squared singular values,
rounded up to a multiple of 8 (CPU kernels run full vector widths). With a `target` instead, one
energy level shared by all layers is found by bisection so the whole model meets the MACs ratio.
A layer is factorised only where the two thin layers cost fewer MACs than the original; the
classifier is never factorised.
"""

from __future__ import annotations

import copy
import math
from typing import Literal

import torch
from pydantic import Field, field_validator, model_validator
from torch import nn

from medprune.schema import checked
from medprune.compress.technique import (Context, FinetuneOptions, Technique, compressed_spec,
                                         register_technique, require_pytorch)
from medprune.evaluation.efficiency import count_macs
from medprune.evaluation.evaluate import validation_auroc
from medprune.models.checkpoint import Checkpoint
from medprune.models.factorized import factorizable, factorize, layer_matrix, replace_module
from medprune.pruning.groups import classifier_layers
from medprune.pruning.target import Target

RANK_MULTIPLE = 8
BISECTION_STEPS = 30


def _output_positions(model: nn.Module, input_shape: tuple[int, ...]) -> dict[nn.Module, int]:
    """Spatial positions (H x W) of every layer's output: its MACs are weights x positions."""
    positions: dict[nn.Module, int] = {}
    hooks = [m.register_forward_hook(lambda mod, _, out: positions.__setitem__(mod, math.prod(out.shape[2:])))
             for m in model.modules() if factorizable(m)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
    return positions


class _Layer:
    """One candidate layer: its singular values and the MACs at each rank."""

    def __init__(self, name: str, module: nn.Module, positions: int) -> None:
        self.name, self.module, self.positions = name, module, positions
        matrix = layer_matrix(module).double()
        self.out, self.fan_in = matrix.shape
        energy = torch.linalg.svdvals(matrix) ** 2
        self.cumulative = (energy.cumsum(0) / energy.sum()).tolist()

    def rank_for(self, energy: float) -> int:
        rank = next((i + 1 for i, c in enumerate(self.cumulative) if c >= energy - 1e-12), len(self.cumulative))
        return min(len(self.cumulative), math.ceil(rank / RANK_MULTIPLE) * RANK_MULTIPLE)

    def macs(self, rank: int | None) -> int:
        if rank is None:
            return self.out * self.fan_in * self.positions
        return rank * (self.fan_in + self.out) * self.positions

    def worth_it(self, rank: int) -> bool:
        return self.macs(rank) < self.macs(None)


def choose_ranks(layers: list[_Layer], energy: float) -> dict[str, int]:
    return {layer.name: r for layer in layers if layer.worth_it(r := layer.rank_for(energy))}


def macs_after(layers: list[_Layer], ranks: dict[str, int], dense_macs: int) -> int:
    return dense_macs - sum(layer.macs(None) - layer.macs(ranks[layer.name]) for layer in layers if layer.name in ranks)


@register_technique
class LowRank(Technique):
    """Truncated SVD of Linear layers and channel SVD of convolutions, then fine-tuning."""

    name = "lowrank"
    not_for_segmentation = ("it chooses the ranks by validation AUROC and keeps a classifier head whole; a "
                            "segmentation network has neither")

    class Options(FinetuneOptions):
        technique: Literal["lowrank"] = "lowrank"
        energy: float | None = Field(default=None, gt=0, le=1, description="share of squared singular values kept")
        target: str | None = Field(default="macs=0.5", description="macs=R: whole-model MACs ratio to reach")

        _target = field_validator("target")(lambda v: v if v is None else checked(Target.parse, v))

        @model_validator(mode="before")
        @classmethod
        def _energy_replaces_the_default_target(cls, data):
            if isinstance(data, dict) and data.get("energy") is not None and "target" not in data:
                return {**data, "target": None}
            return data

        @model_validator(mode="after")
        def _one_rule(self):
            if self.energy is not None and self.target is not None:
                raise ValueError("give energy or target, not both")
            if self.target is not None and Target.parse(self.target).kind != "macs":
                raise ValueError("lowrank targets a MACs ratio: write target: macs=0.5")
            return self

    def apply(self, model: Checkpoint, ctx: Context) -> Checkpoint:
        require_pytorch(model, "lowrank")
        net = copy.deepcopy(model.model).eval()
        shape = tuple(ctx.dataset.input_shape)
        positions = _output_positions(net, shape)
        heads = set(map(id, classifier_layers(net, ctx.dataset.n_classes, torch.zeros(1, *shape))))
        layers = [_Layer(name, m, positions[m]) for name, m in net.named_modules()
                  if factorizable(m) and id(m) not in heads and m in positions]
        dense_macs = count_macs(net, shape)
        energy = self.options.energy
        if energy is None:
            goal = Target.parse(self.options.target).value * dense_macs
            low, high = 0.0, 1.0  # the largest energy (most accurate layers) whose MACs fit the goal
            for _ in range(BISECTION_STEPS):
                mid = (low + high) / 2
                low, high = (mid, high) if macs_after(layers, choose_ranks(layers, mid), dense_macs) <= goal else (low, mid)
            energy = low
        ranks = choose_ranks(layers, energy)
        for layer in layers:
            if layer.name in ranks:
                replace_module(net, layer.name, factorize(layer.module, ranks[layer.name]))
        spec = model.spec.updated(factorized={**model.spec.factorized, **ranks})
        self.details.update(energy=energy, ranks=ranks, macs_ratio_before_finetune=count_macs(net, shape) / dense_macs,
                            val_auroc_before_finetune=validation_auroc(net, ctx.dataset))
        ctx.finetune(net, epochs=self.options.epochs)
        return Checkpoint(model=net, spec=compressed_spec(Checkpoint(net, spec), ctx, self))
