"""The search space: one channel keep ratio per dependency group, materialised by structured pruning.

The dense model's channels are ranked once by the criterion (per group, as in structured pruning);
a candidate keeps the top `keep[g]` share of group g, never less than the per-layer floor, rounded up
to a multiple of `round_to` (8 by default: the CPU's vector lanes). Its MACs are computed analytically
from the widths it implies (exactly what PyTorch's FLOP counter gives for convolutions and linear layers;
`pruning/cost_model.py`), so budgets are checked and repaired without building the model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from medprune.evaluation.efficiency import count_macs
from medprune.pruning.cost_model import CostModel, Layer
from medprune.pruning.criterion import CalibrationData, Criterion
from medprune.pruning.groups import apply_removals, output_shape, plan_groups, round_kept
from medprune.pruning.structured import DenseFigures, check_round_to


class SearchSpace:
    """Keep-ratio vectors over the prunable groups of one dense model."""

    def __init__(self, model: nn.Module, criterion: Criterion, data: CalibrationData, n_classes: int,
                 max_layer_ratio: float = 0.9, round_to: int = 8) -> None:
        check_round_to(round_to)
        self.model, self.round_to = model.eval(), round_to
        self.input_shape = tuple(data.input_shape)
        self.example = torch.zeros(1, *self.input_shape)
        self.output_shape = output_shape(model, self.example)
        dense = DenseFigures.measure(model, self.input_shape, with_latency=False)
        names = {m: n for n, m in model.named_modules()}
        scores = {names[m]: s for m, s in criterion.score(model, data).items()}
        self.plans = plan_groups(model, self.example, criterion, scores, dense.widths, n_classes, max_layer_ratio)
        self.names = [p.root for p in self.plans]
        self.widths = [len(p.order) for p in self.plans]
        self.floors = [(w - p.removable) / w for w, p in zip(self.widths, self.plans)]
        self.costs = CostModel(model, self.example, self.plans)
        self.dense_macs = dense.macs

    def removed(self, keep: list[float]) -> list[int]:
        """Channels removed per group for a keep vector (floors and multiples of `round_to` applied)."""
        counts = []
        for k, w, p in zip(keep, self.widths, self.plans):
            removed = min(p.removable, max(0, w - math.ceil(k * w - 1e-9)))
            counts.append(round_kept(w, removed, self.round_to))
        return counts

    def layer_widths(self, removed: list[int]) -> list[tuple[Layer, int, int]]:
        return self.costs.layer_widths(removed)

    def macs_ratio(self, keep: list[float]) -> float:
        return self.costs.macs(self.removed(keep)) / self.dense_macs

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
        return apply_removals(self.model, self.example, self.plans, self.removed(keep), self.output_shape)

    def check_macs(self, keep: list[float]) -> tuple[int, int]:
        """(analytic, counted) MACs of a candidate: the test that the cost model is exact."""
        model = self.materialize(keep)
        return self.costs.macs(self.removed(keep)), count_macs(model, self.input_shape)

