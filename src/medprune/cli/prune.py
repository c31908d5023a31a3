"""`medprune prune`: make a trained model smaller with a registered criterion, then fine-tune it."""

from __future__ import annotations

from typing import Annotated

import typer

from medprune import api
from medprune.records.metrics import Pruning, read_metrics
from medprune.cli.app import command, console
from medprune.cli.options import DataDirOpt, ModelDirOpt, OptionalDataOpt, OutOpt, ProgressOpt
from medprune.cli.schema_options import settings_options


@command("prune", outputs={"out": "dir"})
@settings_options(api.PruneSettings)
def prune(
    model: ModelDirOpt,
    out: OutOpt,
    settings: api.PruneSettings,
    data: OptionalDataOpt = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted pruning run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a finished run in --out.")] = False,
    data_dir: DataDirOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Prune a trained model, fine-tune it, and compare it with the dense model at the same threshold.

    Every pruning option is declared once in medprune.pruning.settings.PruneSettings (also a recipe's prune
    step and the keywords of medprune.prune)."""
    api.check_device(settings.device)
    dense = api.load_model(model)
    dataset = api.load_data_for(dense, data, data_dir=data_dir)
    record = api.prune(dense, dataset, settings, out, resume=resume, overwrite=overwrite, progress=progress,
                       log=console.print)
    if not record:  # a torchrun process other than rank 0: that one reports
        return
    console.print((out / "summary.md").read_text())
    achieved = Pruning.model_validate(read_metrics(record.to_dict()).pruning).achieved
    console.print(f"pruned run written to {out}: MACs x{achieved['macs_ratio']:.3f}, params "
                  f"x{achieved['params_ratio']:.3f}, zero weights {achieved['sparsity']:.3f}")
