"""The search space: one channel keep ratio per dependency group, materialised by structured pruning.

The dense model's channels are ranked once by the criterion (per group, as in structured pruning);
a candidate keeps the top `keep[g]` share of group g, never less than the per-layer floor, rounded up
to a multiple of 8. Its MACs are computed analytically from the widths it implies (exactly what
PyTorch's FLOP counter gives for convolutions and linear layers), so budgets are checked and repaired
without building the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from medprune.evaluation.efficiency import count_macs
from medprune.pruning.criterion import CalibrationData, Criterion
from medprune.pruning.structured import DenseFigures, _apply, _plan, _round_kept, dependency_graph, output_shape

CHANNEL_MULTIPLE = 8


@dataclass(frozen=True)
class Layer:
    """A convolution or linear layer: MACs = per_pair * (in / groups) * out."""

    name: str
    per_pair: int  # kernel area x output positions
    width_in: int
    width_out: int
    depthwise: bool
    module: nn.Module  # the dense layer (its geometry, for latency tables)
    input_hw: tuple[int, ...] = ()

    def macs(self, width_in: int, width_out: int) -> int:
        return self.per_pair * (1 if self.depthwise else width_in) * width_out


class SearchSpace:
    """Keep-ratio vectors over the prunable groups of one dense model."""

    def __init__(self, model: nn.Module, criterion: Criterion, data: CalibrationData, n_classes: int,
                 max_layer_ratio: float = 0.9) -> None:
        self.model = model.eval()
        self.input_shape = tuple(data.input_shape)
        self.example = torch.zeros(1, *self.input_shape)
        self.output_shape = output_shape(model, self.example)
        dense = DenseFigures.measure(model, self.input_shape, with_latency=False)
        names = {m: n for n, m in model.named_modules()}
        scores = {names[m]: s for m, s in criterion.score(model, data).items()}
        self.plans = _plan(model, self.example, criterion, scores, dense, n_classes, max_layer_ratio)
        self.names = [p.root for p in self.plans]
        self.widths = [len(p.order) for p in self.plans]
        self.floors = [(w - p.removable) / w for w, p in zip(self.widths, self.plans)]
        self.layers, self.out_group, self.in_group = self._geometry(model)
        self.dense_macs = dense.macs
        self._other_macs = dense.macs - self._layer_macs([0] * len(self.plans))  # ops outside conv / linear

    def _geometry(self, model: nn.Module) -> tuple[list[Layer], dict[str, set[int]], dict[str, set[int]]]:
        positions: dict[str, int] = {}
        inputs: dict[str, tuple[int, ...]] = {}

        def record(mod, args, out, name):
            positions[name] = math.prod(out.shape[2:]) if out.dim() > 2 else 1
            inputs[name] = tuple(args[0].shape[2:])

        hooks = [m.register_forward_hook(lambda mod, args, out, name=name: record(mod, args, out, name))
                 for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        with torch.no_grad():
            model(self.example)
        for h in hooks:
            h.remove()
        layers = []
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                depthwise = m.groups == m.in_channels and m.groups > 1
                per = math.prod(m.kernel_size) * positions[name] // (1 if depthwise else m.groups)
                layers.append(Layer(name, per, m.in_channels, m.out_channels, depthwise, m, inputs[name]))
            elif isinstance(m, nn.Linear):
                layers.append(Layer(name, positions[name], m.in_features, m.out_features, False, m, inputs[name]))
        # Which groups narrow each layer's output and input (several, for concatenated inputs).
        graph = dependency_graph(model, self.example)
        modules = dict(model.named_modules())
        out_group: dict[str, set[int]] = {}
        in_group: dict[str, set[int]] = {}
        module_names = names_of(model)
        for g, plan in enumerate(self.plans):
            group = graph.get_pruning_group(modules[plan.root], plan.pruning_fn, [0])
            for item in group:
                layer = module_names.get(item.dep.target.module)
                fn = getattr(item.dep.handler, "__name__", "")
                if layer is None:
                    continue
                if fn == "prune_out_channels":
                    out_group.setdefault(layer, set()).add(g)
                elif fn == "prune_in_channels":
                    in_group.setdefault(layer, set()).add(g)
        return layers, out_group, in_group

    def removed(self, keep: list[float]) -> list[int]:
        """Channels removed per group for a keep vector (floors and multiples of 8 applied)."""
        counts = []
        for k, w, p in zip(keep, self.widths, self.plans):
            removed = min(p.removable, max(0, w - math.ceil(k * w - 1e-9)))
            counts.append(_round_kept(w, removed, CHANNEL_MULTIPLE))
        return counts

    def layer_widths(self, removed: list[int]) -> list[tuple[Layer, int, int]]:
        """(layer, input width, output width) of every conv / linear layer after removing channels."""
        out = []
        for layer in self.layers:
            w_out = layer.width_out - sum(removed[g] for g in self.out_group.get(layer.name, ()))
            w_in = layer.width_in - sum(removed[g] for g in self.in_group.get(layer.name, ()))
            out.append((layer, w_in, w_out))
        return out

    def _layer_macs(self, removed: list[int]) -> int:
        return sum(layer.macs(w_in, w_out) for layer, w_in, w_out in self.layer_widths(removed))

    def macs_ratio(self, keep: list[float]) -> float:
        return (self._other_macs + self._layer_macs(self.removed(keep))) / self.dense_macs

    def clip(self, keep: list[float]) -> list[float]:
        return [min(1.0, max(f, float(k))) for k, f in zip(keep, self.floors)]

    def repair(self, keep: list[float], ratio_of: callable, goal: float) -> list[float] | None:
        """Shrink every group's removable share by one factor until the cost fits (None: even the floors do not)."""
        keep = self.clip(keep)
        if ratio_of(keep) <= goal:
            return keep
        if ratio_of(self.floors) > goal:
            return None
        low, high = 0.0, 1.0  # scale of (keep - floor)
        for _ in range(30):
            mid = (low + high) / 2
            trial = [f + (k - f) * mid for k, f in zip(keep, self.floors)]
            low, high = (mid, high) if ratio_of(trial) <= goal else (low, mid)
        return [f + (k - f) * low for k, f in zip(keep, self.floors)]

    def uniform(self, ratio_of: callable, goal: float) -> list[float]:
        """The same keep ratio in every group (above its floor) that fits the goal."""
        return self.repair([1.0] * len(self.plans), ratio_of, goal) or list(self.floors)

    def materialize(self, keep: list[float]) -> nn.Module:
        return _apply(self.model, self.example, self.plans, self.removed(keep), self.output_shape)

    def check_macs(self, keep: list[float]) -> tuple[int, int]:
        """(analytic, counted) MACs of a candidate: the test that the cost model is exact."""
        model = self.materialize(keep)
        return self._other_macs + self._layer_macs(self.removed(keep)), count_macs(model, self.input_shape)


def names_of(model: nn.Module) -> dict[nn.Module, str]:
    return {m: n for n, m in model.named_modules()}
