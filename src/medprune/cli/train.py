"""`medprune train`: train a model of the zoo on a dataset into a run directory."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from medprune import api
from medprune.cli.app import command, console
from medprune.cli.options import (DataDirOpt, DataOpt, MissingOpt, OutOpt, ProgressOpt, SplitSeedOpt,
                                  PositiveClassOpt, SubgroupInputOpt, SubgroupOpt, TargetOpt, TargetSensitivityOpt)
from medprune.cli.show import show_metrics


@command("train", outputs={"out": "dir"})
def train(
    data: DataOpt,
    out: OutOpt,
    model: Annotated[str, typer.Option("--model", help="Architecture (see `medprune list models`).")] = "smallcnn",
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    optimizer: Annotated[str, typer.Option(help="adam (AdamW) or sgd (Nesterov momentum).")] = "adam",
    schedule: Annotated[str, typer.Option(help="cosine, step or none.")] = "cosine",
    weight_decay: Annotated[float, typer.Option(help="Weight decay.")] = 1e-4,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="Random 2 px shifts of images.")] = True,
    class_weighting: Annotated[bool, typer.Option(help="Weight the loss by inverse class frequency.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, shuffling and augmentation.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a finished run in --out.")] = False,
    data_dir: DataDirOpt = None,
    target: TargetOpt = None,
    positive_class: PositiveClassOpt = None,
    subgroup: SubgroupOpt = None,
    subgroup_as_input: SubgroupInputOpt = False,
    missing: MissingOpt = "error",
    split_seed: SplitSeedOpt = 0,
    classes: Annotated[Optional[str], typer.Option(
        help="Names of the classes of your own .npz by index, comma-separated (e.g. normal,pneumonia); classes "
             "without training cases are then allowed.")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Side in px images are resized to (default: their own "
                                                           "size, which must then be one square size).")] = None,
    channels: Annotated[Optional[int], typer.Option(help="1 (grey) or 3 (RGB) for an image folder (default 1).")
                        ] = None,
    image_column: Annotated[Optional[str], typer.Option(help="A CSV manifest's column of image paths (relative "
                                                             "to the CSV); --target names the label column.")] = None,
    split_column: Annotated[Optional[str], typer.Option(help="Manifest column with train / val / test.")] = None,
    group_column: Annotated[Optional[str], typer.Option(help="Manifest column with the patient id: splits are made "
                                                             "by patient, never across.")] = None,
    allow_group_overlap: Annotated[bool, typer.Option("--allow-group-overlap", help="Accept given splits that put a "
                                                      "patient in two splits.")] = False,
    window: Annotated[Optional[str], typer.Option(help="Intensity window center,width applied after the DICOM "
                                                      "rescale (e.g. 40,400 for CT soft tissue); default: the "
                                                      "file's own VOI LUT / window, else its full range.")] = None,
    skip_unreadable: Annotated[bool, typer.Option("--skip-unreadable", help="Leave out (and list) image files that "
                                                  "cannot be decoded instead of stopping.")] = False,
    val_fraction: Annotated[Optional[float], typer.Option(
        help="Carve a stratified validation split of this fraction out of train and val pooled (when the file's "
             "own validation split is too small to choose a threshold).")] = None,
    target_sensitivity: TargetSensitivityOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Train a model; keep the best validation-AUROC epoch; write model.pt, metrics.json, summary.md."""
    config = api.TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, schedule=schedule,
                         weight_decay=weight_decay, augment=augment, class_weighting=class_weighting, seed=seed).check()
    dataset = api.load_data(data, data_dir=data_dir, target=target, subgroups=subgroup,
                            subgroups_as_input=subgroup_as_input, missing=missing, seed=split_seed,
                            positive_class=positive_class, val_fraction=val_fraction,
                            classes=[c.strip() for c in classes.split(",")] if classes else None,
                            image_size=image_size, channels=channels, image_column=image_column,
                            split_column=split_column, group_column=group_column,
                            allow_group_overlap=allow_group_overlap, window=api.parse_window(window),
                            skip_unreadable=skip_unreadable)
    api.check_positive_applies(dataset, positive_class)
    record = api.train(dataset, model, config, out, resume=resume, overwrite=overwrite, progress=progress,
                       target_sensitivity=target_sensitivity)
    show_metrics(record, f"{model} on {dataset.name}: test split")
    console.print(f"run written to {out} (model.pt, metrics.json, summary.md)")
