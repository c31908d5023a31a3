"""`prune`: the pruning engine as a compression step (any criterion, structured or not, any schedule)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import create_model, model_validator

from medprune.compress.technique import (Budget, Context, FinetuneOptions, Technique, compressed_spec,
                                         register_technique, require_pytorch)
from medprune.models.checkpoint import Checkpoint
from medprune.pruning.prune import prune_checkpoint
from medprune.pruning.settings import PruneChecks, PruneSettings
from medprune.schema import checked


def prune_model(model: Checkpoint, ctx: Context, settings: PruneSettings) -> tuple[Checkpoint, dict]:
    """Prune a copy of `model` (the teacher for distillation is the dense reference); returns it and
    what was achieved (sparsity, MACs and parameter ratios against `model`)."""
    pruned, _, achieved = prune_checkpoint(model, ctx.dataset, settings, log=ctx.log, progress=ctx.progress,
                                           teacher=ctx.reference.model)
    return Checkpoint(model=pruned, spec=model.spec), {k: v for k, v in achieved.items() if k != "layers"}


def prune_structured(model: Checkpoint, ctx: Context, criterion: str, target: str,
                     epochs: int | None) -> tuple[Checkpoint, dict]:
    """Structured pruning by `criterion` to `target`, fine-tuned with the shared budget (or `epochs`)."""
    b = ctx.budget
    settings = PruneSettings(criterion=criterion, structured=True, target=target, lr=b.lr, batch_size=b.batch_size,
                             finetune_epochs=b.epochs if epochs is None else epochs, seed=b.seed,
                             operating_margin=b.operating_margin)
    return prune_model(model, ctx, settings)


# A recipe's prune step takes PruneSettings' own fields (the same declarations: names, defaults, ranges) but
# the fine-tuning ones, which come from the recipe's shared budget so that every technique gets the same.
FROM_BUDGET = ("finetune_epochs", "lr", "batch_size", "seed", "operating_margin", "device", "precision")


def _shared_fields() -> dict[str, Any]:
    return {name: (field.annotation, field) for name, field in PruneSettings.model_fields.items()
            if name not in FROM_BUDGET}


class PruneOptions(create_model("PruneFields", __base__=(FinetuneOptions, PruneChecks), **_shared_fields())):
    technique: Literal["prune"] = "prune"

    @model_validator(mode="after")
    def _valid(self):
        checked(self.settings, Budget())  # every check of PruneSettings, reported at the step's line
        return self

    def settings(self, budget: Budget) -> PruneSettings:
        own = self.model_dump(exclude={"technique", "epochs"})
        return PruneSettings(**own, finetune_epochs=budget.epochs if self.epochs is None else self.epochs,
                             lr=budget.lr, batch_size=budget.batch_size, seed=budget.seed,
                             operating_margin=budget.operating_margin, **budget.accelerator())


@register_technique
class Prune(Technique):
    """Structured or unstructured pruning with any criterion and schedule, then fine-tuning."""

    name = "prune"
    Options = PruneOptions

    def apply(self, model: Checkpoint, ctx: Context) -> Checkpoint:
        require_pytorch(model, "prune")
        pruned, self.details["achieved"] = prune_model(model, ctx, self.options.settings(ctx.budget))
        return Checkpoint(model=pruned.model, spec=compressed_spec(model, ctx, self))
