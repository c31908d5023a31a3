"""`medprune.prune`: prune any PyTorch classifier in memory, with no run directory or zoo model needed."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from medprune.errors import ConfigError
from medprune.pruning.criterion import CalibrationData
from medprune.pruning.engine import Pruner
from medprune.pruning.settings import PruneSettings


@dataclass(frozen=True)
class PruneResult:
    """The pruned model (a new object; the input model is left as it was) and what was achieved."""

    model: nn.Module
    target: str
    achieved: dict[str, Any]  # sparsity, macs_ratio, params_ratio, layers
    steps: list[dict[str, Any]]  # one record per pruning step

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "achieved": self.achieved, "steps": self.steps}


def prune(model: nn.Module, example_inputs: torch.Tensor, settings: PruneSettings | None = None, *,
          calibration: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
          ignored_layers: list[nn.Module] | None = None, between_steps: Callable[[nn.Module], object] | None = None,
          validate: Callable[[nn.Module], float] | None = None, recalibrate_bn: bool = True,
          **options: Any) -> PruneResult:
    """Prune a copy of `model` to a target (fine-tune it afterwards, e.g. with `medprune.finetune`).

    The pruning options are `PruneSettings`' fields, which are also `medprune prune`'s flags and a recipe's
    prune-step keys: give them as `settings=PruneSettings(...)` or as keywords (`target="macs=0.5"`,
    `criterion="taylor"`, `schedule="iterative:4"`, `round_to=8`, ...). Fine-tuning fields (lr, epochs) do not
    apply here: `between_steps` fine-tunes.

    Args:
        model: any classifier built from Conv / Linear / BatchNorm layers, 2D or 3D (MONAI networks included).
        example_inputs: a batch shaped like the model's input, e.g. `torch.zeros(1, 1, 28, 28)`.
        settings: the pruning settings; keyword `options` override its fields.
        calibration: (inputs, labels) batches for gradient-based criteria (taylor, snip, grasp, hessian), also
            used to re-estimate BatchNorm statistics after each step.
        ignored_layers: layers whose output channels are kept; the output layer always is.
        between_steps: called with the model after every step but the last, e.g. a short fine-tune.
        validate: returns the validation AUROC of a model: recorded per step, and needed by the
            until-tolerance schedule.
        recalibrate_bn: re-estimate BatchNorm statistics on the calibration inputs after each step (adaptive
            BatchNorm: the pruned model's own activations).
    Raises:
        ConfigError: an unknown or out-of-range option, a criterion that needs calibration data without it,
            or a model whose output the pruning would change.
    """
    # from the keywords alone, what they leave out is inferred afresh (a sparsity= target zeroes weights)
    settings = PruneSettings(**options) if settings is None else settings.replace(**options)
    example = torch.as_tensor(example_inputs)[:1]
    if example.dim() < 2:
        raise ConfigError(f"example_inputs has shape {tuple(example.shape)}: give a batch, e.g. torch.zeros(1, 1, 28, 28)")
    batches = [(torch.as_tensor(x), torch.as_tensor(y)) for x, y in calibration] if calibration is not None else []
    names = {m: n for n, m in model.named_modules()}
    pruner = Pruner(settings, copy.deepcopy(model).eval(), CalibrationData(batches, tuple(example.shape[1:])),
                    bn_inputs=[x for x, _ in batches] if recalibrate_bn else [],
                    kept_layer_names={names[m] for m in (ignored_layers or []) if m in names},
                    after_step=(lambda m, last: None if last else between_steps(m)) if between_steps else None,
                    validate=validate, warn=lambda message: warnings.warn(message, stacklevel=4))
    pruned, steps = pruner.run(copy.deepcopy(pruner.dense_model))
    return PruneResult(pruned, str(pruner.target), pruner.achieved(pruned), steps)
