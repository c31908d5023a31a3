"""A compression technique: a registered step that turns a model into a smaller or faster one.

Each technique has validated options (a pydantic model whose `technique` field names it, so recipes
can list steps of any kind) and an `apply` that takes the incoming model and returns the new one.
Steps chain: the output of one is the input of the next (e.g. prune -> distill -> quantize).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from medprune.data.dataset import Dataset
from medprune.errors import ConfigError
from medprune.evaluation.operating_point import OperatingPointGuard
from medprune.models.checkpoint import Checkpoint, runtime_of
from medprune.models.spec import CheckpointSpec
from medprune.pruning.settings import FINETUNE_BATCH_SIZE, FINETUNE_EPOCHS, FINETUNE_LR, OPERATING_MARGIN, SEED
from medprune.registry import Registry
from medprune.hardware.options import AcceleratorOptions
from medprune.training import Distillation, TrainConfig, TrainResult, fit
from medprune.training.segmentation import Inference, SegmentationResult, VoxelDistillation, finetune_segmentation


class Budget(AcceleratorOptions):
    """The fine-tuning every technique gets, so the comparison is fair (a recipe's `budget:`); its fields are
    declared once with `medprune prune`'s (medprune.pruning.settings), the device and precision with `train`'s."""

    epochs: int | None = FINETUNE_EPOCHS
    lr: float = FINETUNE_LR
    batch_size: int = FINETUNE_BATCH_SIZE
    seed: int = SEED
    operating_margin: float = OPERATING_MARGIN


@dataclass
class Context:
    """What a step may use: the dense reference (teacher), the data, the budget and a folder for files."""

    reference: Checkpoint
    dataset: Dataset
    budget: Budget
    workdir: Path
    progress: bool = True
    log: Callable[[str], None] = field(default=lambda _: None)

    def finetune(self, model: nn.Module, *, epochs: int | None = None, distill: bool = False,
                 temperature: float = 4.0, weight: float = 0.5, keep_start: bool = True,
                 penalty: Callable[[nn.Module], torch.Tensor] | None = None
                 ) -> TrainResult | SegmentationResult | None:
        """Train `model` in place with the shared budget (or `epochs`), optionally from the dense teacher."""
        epochs = self.budget.epochs if epochs is None else epochs
        if epochs == 0:
            return None
        b = self.budget
        if self.dataset.task == "segmentation":
            return self._finetune_segmentation(model, epochs, distill, temperature, weight, keep_start)
        config = TrainConfig(epochs=epochs, budget="finetuning", lr=b.lr, batch_size=b.batch_size, seed=b.seed,
                             **b.accelerator())
        teacher = Distillation(self.reference.model, temperature, weight) if distill else None
        guard = OperatingPointGuard.of(self.reference.model, self.dataset, self.reference.threshold,
                                       b.operating_margin)
        result = fit(model, self.dataset, config, progress=self.progress, distill=teacher, keep_start=keep_start,
                     penalty=penalty, selection_score=guard.score if guard else None)
        self.log(result.said(guard.said() if guard else ""))
        return result

    def _finetune_segmentation(self, model: nn.Module, epochs: int | None, distill: bool, temperature: float,
                               weight: float, keep_start: bool) -> SegmentationResult:
        """As `medprune prune` fine-tunes a segmentation network: the training loss (Dice + cross-entropy, the
        teacher's voxel-wise KL with `distill`), the batch size of training, selection on validation mean Dice."""
        b, ref = self.budget, self.reference
        result = finetune_segmentation(
            model, self.dataset, epochs=epochs, lr=b.lr, seed=b.seed, accelerator=b.accelerator(),
            inference=Inference.recorded(ref.spec.inference, ref.input_shape),
            distill=VoxelDistillation(ref.model, temperature, weight) if distill else None, keep_start=keep_start,
            progress=self.progress)
        self.log(result.said())
        return result



class StepOptions(BaseModel):
    """Options of one step; subclasses add a `technique` literal (the tag recipes use) and their fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FinetuneOptions(StepOptions):
    """Options of a step that trains: its fine-tuning epochs default to the shared budget."""

    epochs: int | None = Field(default=None, ge=0, description="fine-tuning epochs (default: the shared budget)")


class Technique:
    """Base class: `Options` validates the settings, `apply` compresses."""

    name: ClassVar[str]
    Options: ClassVar[type[StepOptions]]
    produces_onnx: ClassVar[bool] = False  # the output runs in ONNX Runtime: nothing can follow it
    # Why the technique cannot compress a segmentation network (empty: it can); said before any work is done.
    not_for_segmentation: ClassVar[str] = ""

    def __init__(self, options: StepOptions) -> None:
        self.options = options
        self.details: dict[str, Any] = {}  # what the step measured or chose, recorded in the results

    def apply(self, model: Checkpoint, ctx: Context) -> Checkpoint:
        raise NotImplementedError

    def record(self) -> dict[str, Any]:
        return {"technique": self.name, "options": self.options.model_dump(), **self.details}


TECHNIQUES: Registry[type[Technique]] = Registry("technique")


def register_technique(cls: type[Technique]) -> type[Technique]:
    return TECHNIQUES.register(cls.name)(cls)


def compressed_spec(model: Checkpoint, ctx: Context, step: Technique) -> CheckpointSpec:
    """The incoming spec plus this step's record, judged at the reference threshold."""
    return model.spec.for_new_weights(compression=[*model.spec.compression, step.record()],
                                      threshold=ctx.reference.threshold)


def check_task(steps: list[StepOptions], task: str) -> None:
    """Refuse, in one line and before any training, a step that cannot compress this task's models."""
    for options in steps:
        why = TECHNIQUES.get(options.technique).not_for_segmentation
        if task == "segmentation" and why:
            raise ConfigError(f"{options.technique} cannot compress a segmentation network: {why}; use prune "
                              "(any criterion, with distill), distill or quantize")


def require_pytorch(model: Checkpoint, step: str) -> None:
    if runtime_of(model.model) != "pytorch":
        raise ConfigError(f"{step} needs a PyTorch model but got an exported one: put quantize last in the chain")
