"""`medprune.prune`: prune any PyTorch classifier in memory, with no run directory or zoo model needed."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from medprune.batchnorm import recalibrate_batchnorm
from medprune.errors import ConfigError
from medprune.pruning.criterion import CRITERIA, CalibrationData
from medprune.pruning.groups import output_shape
from medprune.pruning.step import prune_step
from medprune.pruning.structured import DenseFigures, channel_widths, check_round_to, cost_ratio
from medprune.pruning.target import Schedule, Target
from medprune.pruning.unstructured import make_permanent, parse_pattern, zero_fraction

# A result further than this from the target (either side) is reported: the 8-channel rounding or the
# per-layer floor moved it, and the user should know before fine-tuning.
TARGET_WARNING_DISTANCE = 0.05


@dataclass(frozen=True)
class PruneResult:
    """The pruned model (a new object; the input model is left as it was) and what was achieved."""

    model: nn.Module
    target: str
    achieved: dict[str, Any]  # sparsity, macs_ratio, params_ratio, layers

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "achieved": self.achieved}


def prune(model: nn.Module, example_inputs: torch.Tensor, *, criterion: str = "taylor", target: str = "macs=0.5",
          structured: bool = True, calibration: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
          ignored_layers: list[nn.Module] | None = None, round_to: int = 8, max_layer_ratio: float | None = None,
          scope: str = "global", schedule: str = "oneshot", pattern: str | None = None,
          between_steps: Callable[[nn.Module], object] | None = None, recalibrate_bn: bool = True) -> PruneResult:
    """Prune a copy of `model` to `target` (fine-tune it afterwards, e.g. with `medprune.finetune`).

    The options carry the names of `medprune prune`'s flags and of a recipe's prune step.

    Args:
        model: any classifier built from Conv / Linear / BatchNorm layers, 2D or 3D (MONAI networks included).
        example_inputs: a batch shaped like the model's input, e.g. `torch.zeros(1, 1, 28, 28)`.
        criterion: a registered criterion (`medprune list criteria`).
        target: `macs=R`, `params=R` or `latency=R` (structured), or `sparsity=S` (unstructured).
        structured: remove whole channels (faster on a CPU) instead of zeroing weights (smaller file only).
        calibration: (inputs, labels) batches for gradient-based criteria (taylor, snip, grasp, hessian), also
            used to re-estimate BatchNorm statistics after each step.
        ignored_layers: layers whose output channels are kept; the output layer always is.
        round_to: kept channel counts are rounded up to a multiple of this (CPU kernels vectorise by 8).
        max_layer_ratio: no layer loses more than this share (default 0.9 structured, 0.98 unstructured).
        scope: `global` ranks channels (weights) across layers; `layer` removes the same share from each.
        schedule: `oneshot`, or `iterative:K[:linear|cubic]` (K steps of growing size).
        pattern: unstructured "N:M" sparsity (e.g. "2:4") instead of a global sparsity.
        between_steps: called with the model after every step but the last, e.g. a short fine-tune.
        recalibrate_bn: re-estimate BatchNorm statistics on the calibration inputs after each step (adaptive
            BatchNorm: the pruned model's own activations).
    Raises:
        ConfigError: unknown criterion, target or schedule, a criterion that needs calibration data without it,
            or a model whose output the pruning would change.
    """
    spec, plan = Target.parse(target), Schedule.parse(schedule)
    if plan.kind == "until-tolerance":
        raise ConfigError("schedule until-tolerance needs validation data: use oneshot or iterative:K here (and "
                          "check the validation AUROC in between_steps), or `medprune prune` on a run directory")
    if scope not in ("global", "layer"):
        raise ConfigError(f"scope must be global or layer, got '{scope}'")
    chosen = CRITERIA.get(criterion)()
    example = torch.as_tensor(example_inputs)[:1]
    if example.dim() < 2:
        raise ConfigError(f"example_inputs has shape {tuple(example.shape)}: give a batch, e.g. torch.zeros(1, 1, 28, 28)")
    check_round_to(round_to)
    if structured == (spec.kind == "sparsity"):
        raise ConfigError(f"target {target} does not fit {'structured' if structured else 'unstructured'} pruning: "
                          "channels are removed to macs=, params= or latency=; weights are zeroed to sparsity=")
    if structured and pattern:
        raise ConfigError("an N:M pattern zeroes weights: use structured=False with pattern=")
    if pattern:
        parse_pattern(pattern)
    shape = tuple(example.shape[1:])
    batches = [(torch.as_tensor(x), torch.as_tensor(y)) for x, y in calibration] if calibration is not None else []
    if chosen.needs_data and not batches:
        raise ConfigError(f"criterion {criterion} scores weights with gradients: pass calibration=[(inputs, labels), "
                          "...] (a few training batches), or use a data-free criterion such as magnitude")
    data = CalibrationData(batches=batches, input_shape=shape)
    pruned = copy.deepcopy(model).eval()
    n_classes = output_shape(pruned, example)[-1]
    dense = DenseFigures.measure(pruned, shape, with_latency=spec.kind == "latency")
    cap = max_layer_ratio if max_layer_ratio is not None else (0.9 if structured else 0.98)
    if not 0 < cap < 1:
        raise ConfigError(f"max_layer_ratio must be in (0, 1), got {cap}: try 0.9")
    names = {m: n for n, m in model.named_modules()}
    kept_names = {names[m] for m in (ignored_layers or []) if m in names}
    for step in range(1, plan.steps + 1):
        step_target = plan.target_at(spec, step)
        keep = [m for n, m in pruned.named_modules() if n in kept_names]  # the same layers in the current copy
        pruned, reached = prune_step(pruned, chosen, data, step_target, dense=dense, n_classes=n_classes,
                                     structured=structured, scope=scope, max_layer_ratio=cap, round_to=round_to,
                                     pattern=pattern, ignored_layers=keep)
        if recalibrate_bn:
            recalibrate_batchnorm(pruned, [x for x, _ in batches])
        if between_steps is not None and step < plan.steps:
            between_steps(pruned)
            pruned.eval()
    if not structured:
        make_permanent(pruned)
    achieved = achieved_figures(pruned, shape, dense, structured)
    if abs(reached - spec.value) > TARGET_WARNING_DISTANCE and not pattern:
        warnings.warn(f"target {spec} reached {reached:.3f}: the per-layer floor (max_layer_ratio {cap}) or rounding "
                      f"to multiples of {round_to} channels kept it from landing within {TARGET_WARNING_DISTANCE}; "
                      "try round_to=1 or a higher max_layer_ratio", stacklevel=2)
    return PruneResult(pruned, str(spec), achieved)


def achieved_figures(model: nn.Module, shape: tuple[int, ...], dense: DenseFigures, structured: bool) -> dict[str, Any]:
    sparsity, per_layer = zero_fraction(model)
    out: dict[str, Any] = {"sparsity": sparsity, "macs_ratio": cost_ratio(model, shape, "macs", dense),
                           "params_ratio": cost_ratio(model, shape, "params", dense)}
    if structured:
        out["layers"] = {name: {"kept": w, "dense": dense.widths[name]} for name, w in channel_widths(model).items()
                         if name in dense.widths}
    else:
        out["layers"] = {name: {"sparsity": v} for name, v in per_layer.items()}
    return out

