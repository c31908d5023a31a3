"""Pruning a trained model on its dataset: the `prune` verb's and a recipe's door into the engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from medprune.data.dataset import Dataset
from medprune.evaluation.evaluate import validation_auroc
from medprune.evaluation.operating_point import OperatingPointGuard
from medprune.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from medprune.pruning.criterion import CalibrationData
from medprune.pruning.engine import Pruner
from medprune.pruning.settings import PruneSettings
from medprune.pruning.unstructured import apply_masks, copy_model, make_permanent, prunable_layers
from medprune.training import Distillation, TrainConfig, fit
from medprune.training.segmentation import Inference, VoxelDistillation, finetune_segmentation, validation_dice
from medprune.hardware.distributed import launched_rank

NO_SPEEDUP_NOTE = ("Unstructured sparsity (weight masks) makes the file smaller but gives no CPU speed-up: "
                   "PyTorch and ONNX Runtime still run dense kernels over the zeros.")


def prune_checkpoint(dense: Checkpoint, dataset: Dataset, settings: PruneSettings, *, log: Callable[[str], None],
                     progress: bool, teacher: nn.Module | None = None, state_path: Path | None = None,
                     resume: bool = False) -> tuple[nn.Module, list[dict[str, Any]], dict[str, Any]]:
    """Prune a trained model on its dataset through the one engine (`medprune.pruning.engine`).

    Calibration and BatchNorm batches come from the training split; after each step the model is fine-tuned
    (keeping the operating point, distilled from `teacher` or the dense model with --distill) and scored on
    the validation split; progress is saved to `state_path` so `resume` continues after the last finished step.
    Returns the pruned model, one record per step, and what was achieved against the dense model.
    """
    s = settings
    teacher = teacher if teacher is not None else dense.model
    data = CalibrationData.from_dataset(dataset, s.calibration_batches, s.calibration_batch_size, s.seed)
    bn = CalibrationData.from_dataset(dataset, s.bn_batches, s.calibration_batch_size, s.seed + 1) \
        if s.bn_batches else []

    segmentation = dataset.task == "segmentation"
    inference = Inference.recorded(dense.spec.inference, dense.input_shape) if segmentation else None

    def finetune(model: nn.Module, last: bool) -> None:
        epochs = s.finetune_epochs if last else s.step_epochs
        if epochs == 0:
            return
        if segmentation:
            distill = VoxelDistillation(teacher, s.temperature, s.distill_weight) if s.distill else None
            log(finetune_segmentation(model, dataset, epochs=epochs, lr=s.lr, seed=s.seed, accelerator=s.accelerator(),
                                      inference=inference, distill=distill, keep_start=True, progress=progress).said())
            return
        config = TrainConfig(epochs=epochs, budget="finetuning", lr=s.lr, batch_size=s.batch_size, seed=s.seed,
                             augment=s.augment, **s.accelerator())
        distill = Distillation(teacher, s.temperature, s.distill_weight) if s.distill else None
        guard = OperatingPointGuard.of(teacher, dataset, dense.threshold, s.operating_margin)
        result = fit(model, dataset, config, progress=progress, distill=distill, keep_start=True,
                     selection_score=guard.score if guard else None)
        log(result.said(guard.said() if guard else ""))

    def save(model: nn.Module, steps: list[dict[str, Any]]) -> None:
        snapshot = copy_model(model)
        make_permanent(snapshot)
        save_checkpoint(state_path, snapshot, dense.spec.updated(prune_progress={"steps": steps}))

    pruner = Pruner(s, dense.model, data, bn_inputs=[x for x, _ in bn], after_step=finetune,
                    validate=(lambda model: validation_dice(model, dataset, inference)) if segmentation
                    else (lambda model: validation_auroc(model, dataset)), score_name="Dice" if segmentation else "AUROC",
                    save=save if state_path is not None and launched_rank() == 0 else None, log=log)
    model, done = copy_model(dense.model), []
    if resume and state_path is not None and state_path.is_file():
        model, done = _restore_progress(state_path, s.structured)
        log(f"resuming after step {len(done)}")
    model, steps = pruner.run(model, done)
    return model, steps, pruner.achieved(model)


def _restore_progress(path: Path, structured: bool) -> tuple[nn.Module, list[dict]]:
    saved = load_checkpoint(path)
    if not structured:  # masks are the zeros: keep them fixed while fine-tuning
        apply_masks({m: m.weight.detach() != 0 for m in prunable_layers(saved.model)})
    return saved.model, list((saved.spec.prune_progress or {}).get("steps", []))
