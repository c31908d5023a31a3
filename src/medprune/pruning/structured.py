"""Structured pruning to a target: how many channels to remove so the MACs, parameter or latency target is met.

Which channels go, group by group, is `groups.py`; this module chooses how many: the share of
removable channels (globally least important first, or the same share per layer) whose cost lands
closest to the target from below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from medprune.errors import ConfigError
from medprune.evaluation.efficiency import count_macs, count_params, measure_latency
from medprune.pruning.cost_model import CostModel
from medprune.pruning.criterion import CalibrationData, Criterion
from medprune.pruning.groups import CONV_LAYERS, GroupPlan, apply_removals, output_shape, pick_removals, plan_groups
from medprune.pruning.target import Target

BISECTION_STEPS = 10  # parameters and latency: each step builds (and for latency, times) a model
ANALYTIC_STEPS = 40  # MACs: each step only sums layer costs


@dataclass(frozen=True)
class DenseFigures:
    """The dense model's cost and widths: the denominators of every ratio and every per-layer floor."""

    macs: int
    params: int
    latency_ms: float
    widths: dict[str, int]

    @classmethod
    def measure(cls, model: nn.Module, input_shape: tuple[int, ...], with_latency: bool) -> DenseFigures:
        latency = measure_latency(model, input_shape, 32, repeats=5) if with_latency else float("nan")
        return cls(count_macs(model, input_shape), count_params(model)[0], latency, channel_widths(model))


def channel_widths(model: nn.Module) -> dict[str, int]:
    """Output width of every convolution / Linear layer."""
    return {name: (m.out_features if isinstance(m, nn.Linear) else m.out_channels)
            for name, m in model.named_modules() if isinstance(m, (*CONV_LAYERS, nn.Linear))}


def cost_ratio(model: nn.Module, input_shape: tuple[int, ...], kind: str, dense: DenseFigures) -> float:
    """Pruned / dense for `macs`, `params` or `latency` (batch 32, median)."""
    if kind == "macs":
        return count_macs(model, input_shape) / dense.macs
    if kind == "params":
        return count_params(model)[0] / dense.params
    return measure_latency(model, input_shape, 32, repeats=5) / dense.latency_ms


def check_round_to(round_to: int) -> None:
    if round_to < 1:
        raise ConfigError(f"round_to must be at least 1, got {round_to}: 8 suits CPU kernels, 1 turns rounding off")


def prune_channels(model: nn.Module, criterion: Criterion, data: CalibrationData, target: Target, *,
                   dense: DenseFigures, n_classes: int, global_ranking: bool = True,
                   max_layer_ratio: float = 0.9, round_to: int = 8,
                   ignored_layers: list[nn.Module] = ()) -> tuple[nn.Module, float]:
    """Return a copy of `model` with channels removed until `target` is met, and the ratio reached.

    Kept widths are rounded up to a multiple of `round_to`: odd widths such as 37 waste the
    SIMD lanes of CPU convolution kernels, so fewer MACs would not mean less time.

    Criteria that must be re-scored while pruning (SynFlow) get `criterion.rounds` geometric steps.
    When every layer is at its floor the smallest reachable model is returned with its ratio. The
    output layers and `ignored_layers` keep their width, and the output shape is checked after every
    step. Of the removals within the target, the one closest to it is kept: for MACs it is found on the
    analytic cost model (every candidate costed without building it, one model built per round); for
    parameters and latency by bisection over built models.
    """
    if target.kind == "sparsity":
        raise ConfigError("structured pruning removes channels: give --target macs=, params= or latency=, "
                          "or drop --structured to zero individual weights")
    shape = data.input_shape
    example = torch.zeros(1, *shape)
    expected = output_shape(model, example)
    ignored = list(ignored_layers)
    current, start = model, cost_ratio(model, shape, target.kind, dense)
    ratio = start
    for r in range(1, criterion.rounds + 1):
        goal = start * (target.value / start) ** (r / criterion.rounds)
        if ratio <= goal:
            continue
        names = {m: n for n, m in current.named_modules()}
        scores = {names[m]: s for m, s in criterion.score(current, data).items()}
        names_now = dict(current.named_modules())
        kept_ignored = [names_now[n] for n, m in model.named_modules() if m in ignored and n in names_now]
        plans = plan_groups(current, example, criterion, scores, dense.widths, n_classes, max_layer_ratio,
                            kept_ignored)
        pick = lambda fraction: pick_removals(plans, fraction, global_ranking, round_to)  # noqa: E731
        if target.kind == "macs":
            costs = CostModel(current, example, plans)
            fraction = _closest_fraction(lambda f: costs.macs(pick(f)) / dense.macs, goal)
            current = apply_removals(current, example, plans, pick(fraction), expected)
            ratio = cost_ratio(current, shape, "macs", dense)
        else:
            current, ratio = _bisect_built(current, example, plans, pick, expected,
                                           lambda m: cost_ratio(m, shape, target.kind, dense), goal)
    return current, ratio


def _closest_fraction(ratio_of: Callable[[float], float], goal: float) -> float:
    """Share of removable channels whose cost ratio is the largest one within `goal` (all of them if none is)."""
    if ratio_of(1.0) > goal:
        return 1.0
    low, high = 0.0, 1.0  # ratio_of(high) <= goal always holds
    for _ in range(ANALYTIC_STEPS):
        mid = (low + high) / 2
        low, high = (low, mid) if ratio_of(mid) <= goal else (mid, high)
    return high


def _bisect_built(model: nn.Module, example: torch.Tensor, plans: list[GroupPlan],
                  pick: Callable[[float], list[int]], expected: tuple[int, ...],
                  ratio_of: Callable[[nn.Module], float], goal: float) -> tuple[nn.Module, float]:
    """The built removal closest to `goal` from below, for costs (parameters, latency) measured on a model."""
    best = apply_removals(model, example, plans, pick(1.0), expected)
    best_ratio = ratio_of(best)
    lo, hi = 0.0, 1.0
    if best_ratio <= goal:
        for _ in range(BISECTION_STEPS):
            mid = (lo + hi) / 2
            candidate = apply_removals(model, example, plans, pick(mid), expected)
            candidate_ratio = ratio_of(candidate)
            if candidate_ratio <= goal:
                if candidate_ratio > best_ratio:  # within the target and closer to it
                    best, best_ratio = candidate, candidate_ratio
                hi = mid
            else:
                lo = mid
    return best, best_ratio
