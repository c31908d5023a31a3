"""`prune`: the pruning engine as a compression step (any criterion, structured or not, any schedule)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Literal, get_type_hints

from pydantic import create_model, field_validator, model_validator

from medprune.compress.technique import (Budget, Context, FinetuneOptions, Technique, checked, compressed_spec,
                                         register_technique, require_pytorch)
from medprune.models.checkpoint import Checkpoint
from medprune.pruning.criterion import CRITERIA
from medprune.pruning.prune import PruneSettings, PruningRun, run_schedule
from medprune.pruning.structured import check_round_to
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
                             finetune_epochs=b.epochs if epochs is None else epochs, seed=b.seed,
                             operating_margin=b.operating_margin)
    return prune_model(model, ctx, settings)


# A recipe's prune step takes PruneSettings' own fields by their own names, so a name means one thing on the
# command line, in a recipe and in Python; fine-tuning epochs, learning rate, batch size, seed and operating
# margin come from the recipe's shared budget (every technique gets the same), and a recipe prunes channels
# by default.
FROM_BUDGET = ("finetune_epochs", "lr", "batch_size", "seed", "operating_margin")
RECIPE_DEFAULTS = {"structured": True, "target": "macs=0.5"}


def _settings_fields() -> dict[str, Any]:
    hints = get_type_hints(PruneSettings)
    return {f.name: (hints[f.name], RECIPE_DEFAULTS.get(f.name, f.default)) for f in fields(PruneSettings)
            if f.name not in FROM_BUDGET}


class PruneOptions(create_model("PruneFields", __base__=FinetuneOptions, **_settings_fields())):
    technique: Literal["prune"] = "prune"

    # Each field's own check first, so a recipe's mistake is reported at its line; then the combination.
    _criterion = field_validator("criterion")(lambda v: checked(CRITERIA.get, v))
    _target = field_validator("target")(lambda v: checked(Target.parse, v))
    _schedule = field_validator("schedule")(lambda v: checked(Schedule.parse, v))
    _round_to = field_validator("round_to")(lambda v: checked(check_round_to, v))

    @model_validator(mode="after")
    def _valid(self):
        checked(PruneSettings.check, self.settings(Budget()))
        return self

    def settings(self, budget: Budget) -> PruneSettings:
        own = self.model_dump(exclude={"technique", "epochs"})
        return PruneSettings(**own, finetune_epochs=budget.epochs if self.epochs is None else self.epochs,
                             lr=budget.lr, batch_size=budget.batch_size, seed=budget.seed,
                             operating_margin=budget.operating_margin)


@register_technique
class Prune(Technique):
    """Structured or unstructured pruning with any criterion and schedule, then fine-tuning."""

    name = "prune"
    Options = PruneOptions

    def apply(self, model: Checkpoint, ctx: Context) -> Checkpoint:
        require_pytorch(model, "prune")
        pruned, self.details["achieved"] = prune_model(model, ctx, self.options.settings(ctx.budget))
        return Checkpoint(model=pruned.model, spec=compressed_spec(model, ctx, self))
