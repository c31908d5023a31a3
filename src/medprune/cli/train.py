"""`medprune train`: train a model of the zoo on a dataset into a run directory."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from medprune import api
from medprune.cli.app import command, console
from medprune.cli.options import (AllowColumnOpt, AllowGroupOverlapOpt, CacheOpt, ChannelsOpt,
                                  DataDirOpt, DataOpt, GroupColumnOpt, ImageColumnOpt, ImageSizeOpt, LabelColumnOpt,
                                  MissingOpt, OldLabelColumnOpt, OutOpt, PositiveClassOpt, ProgressOpt,
                                  SkipUnreadableOpt, SplitColumnOpt, SplitSeedOpt, SubgroupInputOpt, SubgroupOpt,
                                  TargetSensitivityOpt, VolumeSizeOpt, WindowOpt, WorkersOpt, image_reading,
                                  label_column_of)
from medprune.budget import parse_duration
from medprune.cli.schema_options import settings_options
from medprune.cli.show import show_metrics


@command("train", outputs={"out": "dir"})
@settings_options(api.TrainConfig, into="config")
def train(
    data: DataOpt,
    out: OutOpt,
    config: api.TrainConfig,
    model: Annotated[str, typer.Option("--model", help="Architecture (see `medprune list models`).")] = "smallcnn",
    time_budget: Annotated[Optional[str], typer.Option(
        "--time-budget", help="Begin no epoch that would end past this wall time, e.g. 300s, 5m, 1h.")] = None,
    no_augment: Annotated[bool, typer.Option("--no-augment", help="The same as --augment none.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a finished run in --out.")] = False,
    data_dir: DataDirOpt = None,
    label_column: LabelColumnOpt = None,
    target: OldLabelColumnOpt = None,
    positive_class: PositiveClassOpt = None,
    subgroup: SubgroupOpt = None,
    subgroup_as_input: SubgroupInputOpt = False,
    allow_column: AllowColumnOpt = None,
    missing: MissingOpt = "error",
    split_seed: SplitSeedOpt = 0,
    classes: Annotated[Optional[str], typer.Option(
        help="Names of the classes of your own .npz by index, comma-separated (e.g. normal,pneumonia); classes "
             "without training cases are then allowed.")] = None,
    image_size: ImageSizeOpt = None,
    volume_size: VolumeSizeOpt = None,
    channels: ChannelsOpt = None,
    image_column: ImageColumnOpt = None,
    split_column: SplitColumnOpt = None,
    group_column: GroupColumnOpt = None,
    allow_group_overlap: AllowGroupOverlapOpt = False,
    window: WindowOpt = None,
    skip_unreadable: SkipUnreadableOpt = False,
    cache: CacheOpt = None,
    workers: WorkersOpt = 0,
    val_fraction: Annotated[Optional[float], typer.Option(
        help="Carve a stratified validation split of this fraction out of train and val pooled (when the file's "
             "own validation split is too small to choose a threshold).")] = None,
    target_sensitivity: TargetSensitivityOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Train a model; keep the best validation-AUROC epoch; write model.pt, metrics.json, summary.md.

    The training options are declared once in medprune.training.TrainConfig (also a recipe's reference: train:)."""
    config = config.replace(time_budget_s=parse_duration(time_budget),
                            augment="none" if no_augment else config.augment)
    dataset = api.load_data(data, data_dir=data_dir, label_column=label_column_of(label_column, target), subgroups=subgroup,
                            subgroups_as_input=subgroup_as_input, missing=missing, seed=split_seed,
                            positive_class=positive_class, val_fraction=val_fraction, allow_columns=allow_column,
                            classes=[c.strip() for c in classes.split(",")] if classes else None,
                            **image_reading(image_size=image_size, channels=channels, image_column=image_column,
                                            split_column=split_column, group_column=group_column,
                                            allow_group_overlap=allow_group_overlap, window=window,
                                            skip_unreadable=skip_unreadable, cache=cache, workers=workers,
                                            volume_size=volume_size))
    api.check_positive_applies(dataset, positive_class)
    record = api.train(dataset, model, config, out, resume=resume, overwrite=overwrite, progress=progress,
                       target_sensitivity=target_sensitivity)
    show_metrics(record, f"{model} on {dataset.name}: test split")
    result = record["training"]["result"]
    console.print(f"trained {result['epochs_run']} epochs in {result['wall_time_s']:.0f} s (best validation AUROC "
                  f"{result['best_val_auroc']:.4f} at epoch {result['best_epoch']}); stopped: {result['stopped']}",
                  markup=False, highlight=False)
    console.print(f"run written to {out} (model.pt, metrics.json, summary.md)")
