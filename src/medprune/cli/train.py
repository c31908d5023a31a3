"""`medprune train`: train a model of the zoo on a dataset into a run directory."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from medprune import api
from medprune.records.metrics import Training, read_metrics
from medprune.cli.app import command, console
from medprune.cli.options import (DataDirOpt, DataOpt, OldLabelColumnOpt, OutOpt, ProgressOpt,
                                  TargetSensitivityOpt, label_column_of)
from medprune.cli.schema_options import settings_options
from medprune.cli.show import show_metrics


@command("train", outputs={"out": "dir"})
@settings_options(api.TrainConfig, into="config")
@settings_options(api.DataOptions, into="reading")
def train(
    data: DataOpt,
    out: OutOpt,
    config: api.TrainConfig,
    reading: api.DataOptions,
    model: Annotated[str, typer.Option("--model", help="Architecture (see `medprune list models`).")] = "smallcnn",
    time_budget: Annotated[Optional[str], typer.Option(
        "--time-budget", help="Begin no epoch that would end past this wall time, e.g. 300s, 5m, 1h.")] = None,
    no_augment: Annotated[bool, typer.Option("--no-augment", help="The same as --augment none.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a finished run in --out.")] = False,
    data_dir: DataDirOpt = None,
    target: OldLabelColumnOpt = None,
    target_sensitivity: TargetSensitivityOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Train a model; keep the best validation-AUROC epoch (mean Dice for segmentation); write model.pt,
    metrics.json, summary.md.

    The training options are declared once in medprune.training.TrainConfig (also a recipe's reference: train:),
    the data options in medprune.data.DataOptions (also a recipe's data:)."""
    config = config.replace(time_budget_s=api.parse_duration(time_budget),
                            augment="none" if no_augment else config.augment)
    api.check_device(config.device)
    reading = reading.replace(label_column=label_column_of(reading.label_column, target))
    dataset = api.load_data(data, data_dir=data_dir, **reading.load_kwargs())
    api.check_positive_applies(dataset, reading.positive_class)
    record = api.train(dataset, model, config, out, resume=resume, overwrite=overwrite, progress=progress,
                       target_sensitivity=target_sensitivity)
    if not record:  # a torchrun process other than rank 0: that one reports
        return
    show_metrics(record, f"{model} on {dataset.name}: test split")
    result = Training.model_validate(read_metrics(record.to_dict()).training).result
    console.print(f"trained {result.epochs_run} epochs in {result.wall_time_s:.0f} s (best validation "
                  f"{result.best_said} at epoch {result.best_epoch}); stopped: {result.stopped}", markup=False,
                  highlight=False)
    console.print(f"run written to {out} (model.pt, metrics.json, summary.md)")
