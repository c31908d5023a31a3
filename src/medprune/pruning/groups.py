"""Channel groups of a network and their removal, through Torch-Pruning's dependency graph.

The graph couples every layer that shares a channel dimension (residual adds, DenseNet
concatenations, depthwise convolutions, squeeze-excite blocks), so a channel is removed from all of
them at once. Each group's channels are ranked by the criterion's scores summed over the group
(`importance.py`); every layer keeps at least `1 - max_layer_ratio` of its dense width; the output
layers never lose a channel, and a removal that changes the model's output shape is refused.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from medprune.errors import ConfigError
from medprune.pruning.criterion import Criterion
from medprune.models.conv import CONV_LAYERS
from medprune.pruning.importance import make_group_importance

def classifier_layers(model: nn.Module, n_classes: int, example: torch.Tensor | None = None) -> list[nn.Module]:
    """The output layers, whose out-channels are the classes and must never be pruned.

    The last Linear with `n_classes` outputs, and (given an example input) the last convolution / Linear the
    forward pass runs, which is the head of a fully convolutional classifier (Conv2d(64, K, 1) -> pool).
    """
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == n_classes][-1:]
    if example is not None:
        order: list[nn.Module] = []
        handles = [m.register_forward_hook(lambda mod, args, out: order.append(mod))
                   for m in model.modules() if isinstance(m, (*CONV_LAYERS, nn.Linear))]
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


class _ConcatSizes(torch.overrides.TorchFunctionMode):
    """Records the channel count of every input of each torch.cat along channels, keyed by the output's grad_fn."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: dict[int, list[int]] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in (torch.cat, torch.concat) and isinstance(out, torch.Tensor) and out.grad_fn is not None:
            tensors = args[0] if args else (kwargs or {}).get("tensors", ())
            self.sizes[id(out.grad_fn)] = [int(t.shape[1]) if t.dim() > 1 else None for t in tensors]
        return out


def measured_graph_type() -> type:
    """Torch-Pruning's DependencyGraph, with each concatenation's input widths measured during its trace: its own
    inference of them fails on MONAI's UNet (a skip concatenates a residual unit's output) with a TypeError."""
    import torch_pruning as tp

    class MeasuredGraph(tp.DependencyGraph):
        def _trace(self, *args, **kwargs):
            with _ConcatSizes() as measured:
                module2node = super()._trace(*args, **kwargs)
            for node in module2node.values():
                if node.type == tp.ops.OPTYPE.CONCAT and id(node.grad_fn) in measured.sizes:
                    sizes = measured.sizes[id(node.grad_fn)]
                    node.module.concat_sizes = sizes if None not in sizes else None
            return module2node

    return MeasuredGraph


def dependency_graph(model: nn.Module, example: torch.Tensor):
    try:
        return measured_graph_type()().build_dependency(model, example_inputs=example)
    except Exception as err:
        layer = _layer_that_fails(model, example)
        raise ConfigError(f"cannot trace the model for structured pruning at layer '{layer}' "
                          f"({type(err).__name__}: {str(err)[:100]}): use unstructured pruning, or build that "
                          "layer from standard modules") from None


@dataclass
class GroupPlan:
    root: str  # name of the layer whose channels the group is rooted at
    pruning_fn: object
    order: torch.Tensor  # channel indices, least important first
    scores: torch.Tensor  # importance, aligned with `order`
    removable: int  # channels that may go without breaking the layer's floor


def plan_groups(model: nn.Module, example: torch.Tensor, criterion: Criterion, scores_by_name: dict[str, torch.Tensor],
          widths: dict[str, int], n_classes: int, max_layer_ratio: float,
          ignored_layers: list[nn.Module] = ()) -> list[GroupPlan]:
    graph = dependency_graph(model, example)
    modules = dict(model.named_modules())
    names = {m: n for n, m in modules.items()}
    importance = make_group_importance(criterion)
    importance.refresh({modules[n]: s for n, s in scores_by_name.items() if n in modules})
    plans = []
    ignored = [*classifier_layers(model, n_classes, example), *ignored_layers]
    for group in graph.get_all_groups(ignored_layers=ignored, root_module_types=[*CONV_LAYERS, nn.Linear]):
        imp = importance(group)
        root = names.get(group[0].dep.target.module)
        if imp is None or root is None or root not in widths:
            continue
        floor = max(1, math.ceil((1 - max_layer_ratio) * widths[root]))
        order = torch.argsort(imp)
        plans.append(GroupPlan(root, group[0].dep.handler, order, imp[order], max(0, len(imp) - floor)))
    return plans


def round_kept(width: int, removed: int, multiple: int) -> int:
    """Removed count leaving a multiple of `multiple` channels (CPU kernels vectorise over 8 or 16)."""
    if multiple <= 1 or width <= multiple:
        return removed
    kept = min(width, math.ceil((width - removed) / multiple) * multiple)
    return width - kept


def pick_removals(plans: list[GroupPlan], fraction: float, global_ranking: bool, multiple: int = 1) -> list[int]:
    """Channels removed per group: the globally least important, or the same share of every layer."""
    if not global_ranking:
        counts = [min(p.removable, round(fraction * len(p.order))) for p in plans]
    else:
        pool = [(float(p.scores[i]), g) for g, p in enumerate(plans) for i in range(p.removable)]
        pool.sort(key=lambda item: item[0])
        counts = [0] * len(plans)
        for _, g in pool[: round(fraction * len(pool))]:
            counts[g] += 1
    return [round_kept(len(p.order), c, multiple) for p, c in zip(plans, counts)]


def apply_removals(model: nn.Module, example: torch.Tensor, plans: list[GroupPlan], counts: list[int],
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
