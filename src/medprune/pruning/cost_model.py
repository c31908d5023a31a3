"""Analytic MACs of a structurally pruned model, from the widths its pruning groups leave.

A convolution or linear layer costs `kernel size x output positions x (in / groups) x out` MACs,
exactly what PyTorch's FLOP counter gives (a transposed convolution counts its *input* positions, as
the counter does); everything else (batch norm, pooling) keeps its dense cost. Which pruning groups
narrow each layer's input and output comes from the dependency graph, so the cost of any
removal vector is known without building the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from medprune.evaluation.efficiency import count_macs
from medprune.models.conv import TRANSPOSED_CONV_LAYERS
from medprune.pruning.groups import CONV_LAYERS, GroupPlan, dependency_graph


@dataclass(frozen=True)
class Layer:
    """A convolution or linear layer: MACs = per_pair * (in / groups) * out."""

    name: str
    per_pair: int  # kernel size x output positions
    width_in: int
    width_out: int
    depthwise: bool
    module: nn.Module  # the dense layer (its geometry, for latency tables)
    input_hw: tuple[int, ...] = ()

    def macs(self, width_in: int, width_out: int) -> int:
        return self.per_pair * (1 if self.depthwise else width_in) * width_out


class CostModel:
    """MACs of `model` after removing `removed[g]` channels from each group of `plans`."""

    def __init__(self, model: nn.Module, example: torch.Tensor, plans: list[GroupPlan]) -> None:
        self.layers = _layers(model, example)
        self.out_group, self.in_group = _groups_of_layers(model, example, plans)
        counted = count_macs(model, tuple(example.shape[1:]))
        self._other_macs = counted - self.macs([0] * len(plans), include_other=False)  # non-conv ops

    def layer_widths(self, removed: list[int]) -> list[tuple[Layer, int, int]]:
        """(layer, input width, output width) of every conv / linear layer after removing channels."""
        out = []
        for layer in self.layers:
            w_out = layer.width_out - sum(removed[g] for g in self.out_group.get(layer.name, ()))
            w_in = layer.width_in - sum(removed[g] for g in self.in_group.get(layer.name, ()))
            out.append((layer, w_in, w_out))
        return out

    def macs(self, removed: list[int], include_other: bool = True) -> int:
        layers = sum(layer.macs(w_in, w_out) for layer, w_in, w_out in self.layer_widths(removed))
        return layers + (self._other_macs if include_other else 0)


def _layers(model: nn.Module, example: torch.Tensor) -> list[Layer]:
    positions: dict[str, int] = {}
    inputs: dict[str, tuple[int, ...]] = {}

    def record(name, module, args, out):
        # A transposed convolution's kernel visits each input position once (U-Net decoders up-sample so).
        counted = args[0] if isinstance(module, TRANSPOSED_CONV_LAYERS) else out
        positions[name] = math.prod(counted.shape[2:]) if counted.dim() > 2 else 1
        inputs[name] = tuple(args[0].shape[2:])

    hooks = [m.register_forward_hook(lambda mod, args, out, name=name: record(name, mod, args, out))
             for name, m in model.named_modules() if isinstance(m, (*CONV_LAYERS, *TRANSPOSED_CONV_LAYERS, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for h in hooks:
            h.remove()
    layers = []
    for name, m in model.named_modules():
        if name not in positions:
            continue  # defined but never run
        if isinstance(m, (*CONV_LAYERS, *TRANSPOSED_CONV_LAYERS)):
            depthwise = m.groups == m.in_channels and m.groups > 1
            per = math.prod(m.kernel_size) * positions[name] // (1 if depthwise else m.groups)
            layers.append(Layer(name, per, m.in_channels, m.out_channels, depthwise, m, inputs[name]))
        elif isinstance(m, nn.Linear):
            layers.append(Layer(name, positions[name], m.in_features, m.out_features, False, m, inputs[name]))
    return layers


def _groups_of_layers(model: nn.Module, example: torch.Tensor, plans: list[GroupPlan]
                      ) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """Which groups narrow each layer's output and input (several, for concatenated inputs)."""
    graph = dependency_graph(model, example)
    modules = dict(model.named_modules())
    names = {m: n for n, m in modules.items()}
    out_group: dict[str, set[int]] = {}
    in_group: dict[str, set[int]] = {}
    for g, plan in enumerate(plans):
        for item in graph.get_pruning_group(modules[plan.root], plan.pruning_fn, [0]):
            layer = names.get(item.dep.target.module)
            fn = getattr(item.dep.handler, "__name__", "")
            if layer is None:
                continue
            if fn == "prune_out_channels":
                out_group.setdefault(layer, set()).add(g)
            elif fn == "prune_in_channels":
                in_group.setdefault(layer, set()).add(g)
    return out_group, in_group
