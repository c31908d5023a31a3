"""`prune`: the pruning engine as a compression step (any criterion, structured or not, any schedule)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from medprune.compress.technique import (Context, FinetuneOptions, Technique, checked, compressed_spec,
                                         register_technique, require_pytorch)
from medprune.models.checkpoint import Checkpoint
from medprune.pruning.criterion import CRITERIA
from medprune.pruning.prune import PruneSettings, PruningRun, run_schedule
from medprune.pruning.target import Schedule, Target
from medprune.pruning.unstructured import copy_model, make_permanent


def prune_model(model: Checkpoint, ctx: Context, settings: PruneSettings) -> tuple[Checkpoint, dict]:
    """Prune a copy of `model` (the teacher for distillation is the dense reference); returns it and
    what was achieved (sparsity, MACs and parameter ratios against `model`)."""
    settings.check()
    run = PruningRun(copy_model(model.model), model, ctx.dataset, settings, ctx.log, ctx.progress,
                     teacher=ctx.reference.model)
    run_schedule(run, None, resume=False)
    make_permanent(run.model)
    achieved = {k: v for k, v in run.achieved().items() if k != "layers"}
    return Checkpoint(model=run.model, spec=model.spec), achieved


def prune_structured(model: Checkpoint, ctx: Context, criterion: str, target: str,
                     epochs: int | None) -> tuple[Checkpoint, dict]:
    """Structured pruning by `criterion` to `target`, fine-tuned with the shared budget (or `epochs`)."""
    b = ctx.budget
    settings = PruneSettings(criterion=criterion, structured=True, target=target, lr=b.lr, batch_size=b.batch_size,
                             finetune_epochs=b.epochs if epochs is None else epochs, seed=b.seed)
    return prune_model(model, ctx, settings)


@register_technique
class Prune(Technique):
    """Structured or unstructured pruning with any criterion and schedule, then fine-tuning."""

    name = "prune"

    class Options(FinetuneOptions):
        technique: Literal["prune"] = "prune"
        criterion: str = "taylor"
        structured: bool = True
        target: str = "macs=0.5"
        schedule: str = "oneshot"
        distill: bool = False
        round_to: int = Field(default=8, ge=1)  # structured: kept widths are multiples of this

        _criterion = field_validator("criterion")(lambda v: checked(CRITERIA.get, v))
        _target = field_validator("target")(lambda v: checked(Target.parse, v))
        _schedule = field_validator("schedule")(lambda v: checked(Schedule.parse, v))

    def apply(self, model: Checkpoint, ctx: Context) -> Checkpoint:
        require_pytorch(model, "prune")
        o, b = self.options, ctx.budget
        settings = PruneSettings(criterion=o.criterion, structured=o.structured, target=o.target, schedule=o.schedule,
                                 finetune_epochs=b.epochs if o.epochs is None else o.epochs, lr=b.lr,
                                 batch_size=b.batch_size, distill=o.distill, round_to=o.round_to, seed=b.seed)
        pruned, self.details["achieved"] = prune_model(model, ctx, settings)
        return Checkpoint(model=pruned.model, spec=compressed_spec(model, ctx, self))
