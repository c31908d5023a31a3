"""`distill`: knowledge distillation from the dense reference into a smaller student.

The student is a model of the zoo (e.g. a narrower `smallcnn`), trained from scratch on the labels
and the teacher's softened predictions, or, with no student named, the incoming model of a chain
(e.g. the pruned model after `prune`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator

from medprune.schema import checked
from medprune.compress.technique import (Context, FinetuneOptions, Technique, compressed_spec,
                                         register_technique, require_pytorch)
from medprune.models.checkpoint import Checkpoint, make_spec
from medprune.models.registry import MODELS, create_model
from medprune.pruning.unstructured import copy_model


@register_technique
class Distill(Technique):
    """Distillation from the dense reference into a zoo student or the incoming model."""

    name = "distill"

    class Options(FinetuneOptions):
        technique: Literal["distill"] = "distill"
        student: str | None = Field(default=None, description="zoo model trained from scratch; none: the incoming model")
        student_kwargs: dict[str, Any] = Field(default_factory=dict)
        temperature: float = Field(default=4.0, gt=0)
        # The name prune's flag and recipe key use; `weight` is the older spelling.
        distill_weight: float = Field(default=0.5, ge=0, le=1,
                                      validation_alias=AliasChoices("distill_weight", "weight"))

        _student = field_validator("student")(lambda v: v if v is None else checked(MODELS.get, v))

    def apply(self, model: Checkpoint, ctx: Context) -> Checkpoint:
        require_pytorch(model, "distill")
        o, data = self.options, ctx.dataset
        if o.student is None:
            student, spec = copy_model(model.model), model.spec
        else:
            # a segmentation student is built as `medprune train` builds one, and runs the teacher's sliding windows
            by_task = {"task": "segmentation"} if data.task == "segmentation" else {"modality": data.modality}
            student = create_model(o.student, input_shape=data.input_shape, n_classes=data.n_classes,
                                   **by_task, **o.student_kwargs)
            ref = ctx.reference.spec
            spec = make_spec(o.student, input_shape=data.input_shape, class_names=data.class_names,
                             modality=data.modality, task=data.task, kwargs=o.student_kwargs,
                             preprocessing=ref.preprocessing, data=ref.data, data_md5=ref.data_md5)
            spec.inference = ref.inference
        result = ctx.finetune(student, epochs=o.epochs, distill=True, temperature=o.temperature, weight=o.distill_weight,
                              keep_start=o.student is None)
        if result is not None:
            best = ({"best_val_dice": result.best_val_dice} if data.task == "segmentation"
                    else {"best_val_auroc": result.best_val_auroc})
            self.details.update(best_epoch=result.best_epoch, **best)
        return Checkpoint(model=student, spec=compressed_spec(Checkpoint(student, spec), ctx, self))
