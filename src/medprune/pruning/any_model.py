"""`medprune.prune`: prune any PyTorch classifier in memory, with no run directory or zoo model needed."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medprune.records.metrics import Pruning
from medprune._atomic import write_json_atomic, write_text_atomic
from medprune.data.batches import to_tensor
from medprune.data.dataset import Dataset
from medprune.errors import CheckpointError, ConfigError
from medprune.evaluation.evaluate import evaluate, metrics_record, validation_threshold
from medprune.evaluation.input_profile import fit_profile
from medprune.models import Checkpoint, load_checkpoint, make_spec, save_checkpoint
from medprune.report import render_run_summary
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

    def save(self, out: str | Path, data: Dataset, *, architecture: str, kwargs: dict[str, Any] | None = None,
             overwrite: bool = False, latency_repeats: int = 10) -> dict[str, Any]:
        """Write the pruned model as a run directory every CLI verb takes (model.pt, metrics.json, summary.md).

        Args:
            out: the run directory.
            data: the dataset the model was pruned for (`medprune.load_data(...)`): its validation split sets the
                decision threshold, its test split is evaluated, its preprocessing is recorded.
            architecture: what the unpruned model was built as: a zoo name (`resnet18`), `monai:NAME` or
                `factory:package.module:function`, with its `kwargs`; the pruned widths are recorded beside it.
        Returns:
            The metrics record written to metrics.json.
        Raises:
            ConfigError: a segmentation dataset, or `out` holding a model (without `overwrite`).
            CheckpointError: the model does not rebuild from `architecture` with the same outputs.
        """
        out = Path(out)
        if data.task == "segmentation":
            raise ConfigError("PruneResult.save writes classifiers; prune a segmentation model with `medprune "
                              "prune` (or medprune.api.prune), which writes its run directory")
        if (out / "model.pt").exists() and not overwrite:
            raise ConfigError(f"{out} already holds a model: choose another directory or pass overwrite=True")
        model = copy.deepcopy(self.model).cpu().eval()
        spec = make_spec(architecture, input_shape=data.input_shape, class_names=data.class_names,
                         modality=data.modality, task=data.task, kwargs=kwargs, preprocessing=data.preprocessing,
                         data=data.source, data_md5=data.checksum)
        spec.pruning = {**self.to_dict(), "achieved": {k: v for k, v in self.achieved.items() if k != "layers"},
                        "saved_from": "python"}
        spec.input_profile = fit_profile(model, data)
        out.mkdir(parents=True, exist_ok=True)
        path = save_checkpoint(out / "model.pt", model, spec)
        _check_rebuilds(model, path, architecture, data)
        checkpoint = Checkpoint(model=model, spec=spec, path=path)
        spec.threshold = validation_threshold(checkpoint, data)
        save_checkpoint(path, model, spec)
        record = metrics_record(evaluate(checkpoint, data, latency_repeats=latency_repeats), data, checkpoint)
        record.pruning = Pruning.model_validate(spec.pruning)
        written = record.to_json_dict()
        write_json_atomic(out / "metrics.json", written)
        write_text_atomic(out / "summary.md", render_run_summary(record))
        return written


def _check_rebuilds(model: nn.Module, path: Path, architecture: str, data: Dataset) -> None:
    """The saved file must rebuild into the same function, or a later verb would judge another model."""
    x = to_tensor(data.split("val").x[:8], data.preprocessing)
    try:
        rebuilt = load_checkpoint(path).model
        with torch.no_grad():
            same = torch.allclose(rebuilt(x), model(x), atol=1e-5, rtol=1e-4)
    except CheckpointError as err:
        path.unlink(missing_ok=True)
        raise CheckpointError(f"the pruned model does not rebuild as architecture '{architecture}' ({err}): pass "
                              "the architecture and kwargs the unpruned model was built with") from None
    if not same:
        path.unlink(missing_ok=True)
        raise CheckpointError(f"the pruned model rebuilt as '{architecture}' gives other outputs: pass the "
                              "architecture and kwargs the unpruned model was built with")


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
