"""Structured pruning: remove whole channels with Torch-Pruning's dependency graph.

The graph couples every layer that shares a channel dimension (residual adds, DenseNet
concatenations, depthwise convolutions, squeeze-excite blocks), so a channel is removed from all of
them at once. medprune ranks the channels itself: the criterion's scores are summed per group
(`importance.py`), every layer keeps at least `1 - max_layer_ratio` of its dense width, and the
number of channels removed is found by bisection so the MACs, parameter or latency target is met.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from medprune.errors import ConfigError
from medprune.evaluation.efficiency import count_macs, count_params, measure_latency
from medprune.pruning.criterion import CalibrationData, Criterion
from medprune.pruning.importance import make_group_importance
from medprune.pruning.target import Target

BISECTION_STEPS = 10


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
    """Output width of every Conv2d / Linear layer."""
    return {name: (m.out_channels if isinstance(m, nn.Conv2d) else m.out_features)
            for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def cost_ratio(model: nn.Module, input_shape: tuple[int, ...], kind: str, dense: DenseFigures) -> float:
    """Pruned / dense for `macs`, `params` or `latency` (batch 32, median)."""
    if kind == "macs":
        return count_macs(model, input_shape) / dense.macs
    if kind == "params":
        return count_params(model)[0] / dense.params
    return measure_latency(model, input_shape, 32, repeats=5) / dense.latency_ms


def classifier_layers(model: nn.Module, n_classes: int, example: torch.Tensor | None = None) -> list[nn.Module]:
    """The output layers, whose out-channels are the classes and must never be pruned.

    The last Linear with `n_classes` outputs, and (given an example input) the last Conv2d / Linear the
    forward pass runs, which is the head of a fully convolutional classifier (Conv2d(64, K, 1) -> pool).
    """
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == n_classes][-1:]
    if example is not None:
        order: list[nn.Module] = []
        handles = [m.register_forward_hook(lambda mod, args, out: order.append(mod))
                   for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        try:
            with torch.no_grad():
                model.eval()(example)
        finally:
            for h in handles:
                h.remove()
        heads += [m for m in order[-1:] if m not in heads]
    return heads


def output_shape(model: nn.Module, example: torch.Tensor) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(model.eval()(example).shape)


def _layer_that_fails(model: nn.Module, example: torch.Tensor) -> str:
    """Name of the innermost layer running when the forward pass raises (or the last one run)."""
    stack: list[str] = []
    handles = [m.register_forward_pre_hook(lambda mod, args, name=name: stack.append(name))
               for name, m in model.named_modules() if name]
    try:
        model(example)
    except Exception:
        pass
    finally:
        for h in handles:
            h.remove()
    return stack[-1] if stack else "(input)"


def dependency_graph(model: nn.Module, example: torch.Tensor):
    import torch_pruning as tp

    try:
        return tp.DependencyGraph().build_dependency(model, example_inputs=example)
    except Exception as err:
        layer = _layer_that_fails(model, example)
        raise ConfigError(f"cannot trace the model for structured pruning at layer '{layer}' "
                          f"({type(err).__name__}: {str(err)[:100]}): use unstructured pruning, or build that "
                          "layer from standard modules") from None


@dataclass
class _GroupPlan:
    root: str  # name of the layer whose channels the group is rooted at
    pruning_fn: object
    order: torch.Tensor  # channel indices, least important first
    scores: torch.Tensor  # importance, aligned with `order`
    removable: int  # channels that may go without breaking the layer's floor


def _plan(model: nn.Module, example: torch.Tensor, criterion: Criterion, scores_by_name: dict[str, torch.Tensor],
          dense: DenseFigures, n_classes: int, max_layer_ratio: float,
          ignored_layers: list[nn.Module] = ()) -> list[_GroupPlan]:
    graph = dependency_graph(model, example)
    modules = dict(model.named_modules())
    names = {m: n for n, m in modules.items()}
    importance = make_group_importance(criterion)
    importance.refresh({modules[n]: s for n, s in scores_by_name.items() if n in modules})
    plans = []
    ignored = [*classifier_layers(model, n_classes, example), *ignored_layers]
    for group in graph.get_all_groups(ignored_layers=ignored, root_module_types=[nn.Conv2d, nn.Linear]):
        imp = importance(group)
        root = names.get(group[0].dep.target.module)
        if imp is None or root is None or root not in dense.widths:
            continue
        floor = max(1, math.ceil((1 - max_layer_ratio) * dense.widths[root]))
        order = torch.argsort(imp)
        plans.append(_GroupPlan(root, group[0].dep.handler, order, imp[order], max(0, len(imp) - floor)))
    return plans


def _round_kept(width: int, removed: int, multiple: int) -> int:
    """Removed count leaving a multiple of `multiple` channels (CPU kernels vectorise over 8 or 16)."""
    if multiple <= 1 or width <= multiple:
        return removed
    kept = min(width, math.ceil((width - removed) / multiple) * multiple)
    return width - kept


def _pick(plans: list[_GroupPlan], fraction: float, global_ranking: bool, multiple: int = 1) -> list[int]:
    """Channels removed per group: the globally least important, or the same share of every layer."""
    if not global_ranking:
        counts = [min(p.removable, round(fraction * len(p.order))) for p in plans]
    else:
        pool = [(float(p.scores[i]), g) for g, p in enumerate(plans) for i in range(p.removable)]
        pool.sort(key=lambda item: item[0])
        counts = [0] * len(plans)
        for _, g in pool[: round(fraction * len(pool))]:
            counts[g] += 1
    return [_round_kept(len(p.order), c, multiple) for p, c in zip(plans, counts)]


def _apply(model: nn.Module, example: torch.Tensor, plans: list[_GroupPlan], counts: list[int],
           expected_shape: tuple[int, ...]) -> nn.Module:
    pruned = copy.deepcopy(model)
    graph = dependency_graph(pruned, example)
    modules = dict(pruned.named_modules())
    for plan, count in zip(plans, counts):
        if count:
            idxs = sorted(int(i) for i in plan.order[:count])
            graph.get_pruning_group(modules[plan.root], plan.pruning_fn, idxs).prune()
    try:
        with torch.no_grad():
            pruned.eval()(example)
    except Exception as err:  # a layer the graph could not follow kept its old width
        layer = _layer_that_fails(pruned, example)
        raise ConfigError(f"structured pruning broke the model at layer '{layer}' ({type(err).__name__}): the "
                          "dependency graph cannot follow that layer; use unstructured pruning") from None
    shape = output_shape(pruned, example)
    if shape != expected_shape:  # never hand back a model that predicts fewer classes
        raise ConfigError(f"structured pruning changed the model's output from {expected_shape} to {shape}: pass the "
                          "layers that produce the output in ignored_layers")
    return pruned


def prune_channels(model: nn.Module, criterion: Criterion, data: CalibrationData, target: Target, *,
                   dense: DenseFigures, n_classes: int, global_ranking: bool = True,
                   max_layer_ratio: float = 0.9, channel_multiple: int = 8,
                   ignored_layers: list[nn.Module] = ()) -> tuple[nn.Module, float]:
    """Return a copy of `model` with channels removed until `target` is met, and the ratio reached.

    Kept widths are rounded up to a multiple of `channel_multiple`: odd widths such as 37 waste the
    SIMD lanes of CPU convolution kernels, so fewer MACs would not mean less time.

    Criteria that must be re-scored while pruning (SynFlow) get `criterion.rounds` geometric steps.
    When every layer is at its floor the smallest reachable model is returned with its ratio. The
    output layers and `ignored_layers` keep their width, and the output shape is checked after every
    step. Of the candidates within the target, the one closest to it is kept.
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
        plans = _plan(current, example, criterion, scores, dense, n_classes, max_layer_ratio, kept_ignored)
        best = _apply(current, example, plans, _pick(plans, 1.0, global_ranking, channel_multiple), expected)
        best_ratio = cost_ratio(best, shape, target.kind, dense)
        lo, hi = 0.0, 1.0
        if best_ratio <= goal:
            for _ in range(BISECTION_STEPS):
                mid = (lo + hi) / 2
                candidate = _apply(current, example, plans, _pick(plans, mid, global_ranking, channel_multiple),
                                   expected)
                candidate_ratio = cost_ratio(candidate, shape, target.kind, dense)
                if candidate_ratio <= goal:
                    if candidate_ratio > best_ratio:  # within the target and closer to it
                        best, best_ratio = candidate, candidate_ratio
                    hi = mid
                else:
                    lo = mid
        current, ratio = best, best_ratio
    return current, ratio
