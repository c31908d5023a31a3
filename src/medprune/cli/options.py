"""Options shared by several commands, declared once."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from medprune.errors import ConfigError

DataOpt = Annotated[str, typer.Option("--data", help="MedMNIST name (pneumoniamnist, pneumoniamnist@64), "
                                                     "or a path to an .npz (MedMNIST layout) or .csv table.")]
OptionalDataOpt = Annotated[Optional[str], typer.Option("--data", help="Data to use; default: the data the "
                                                                        "model was trained on.")]
DataDirOpt = Annotated[Optional[Path], typer.Option("--data-dir", help="Folder searched first for MedMNIST "
                                                                        "files (then $MEDPRUNE_DATA, then the cache).")]
LabelColumnOpt = Annotated[Optional[str], typer.Option("--label-column", help="Label column of a CSV table or "
                                                                              "manifest.")]
# --target named the label column before it meant the compression budget everywhere: read for one release.
OldLabelColumnOpt = Annotated[Optional[str], typer.Option("--target", hidden=True, help="Older spelling of "
                                                                                       "--label-column.")]
SubgroupOpt = Annotated[Optional[list[str]], typer.Option("--subgroup", help="CSV column kept aside as subgroup "
                                                                              "metadata for audits (repeatable).")]
AllowColumnOpt = Annotated[Optional[list[str]], typer.Option(
    "--allow-column", help="Feed this table column to the model although it looks like an identifier (its name, or "
                           "values unique per row). Repeatable.")]
SubgroupInputOpt = Annotated[bool, typer.Option("--subgroup-as-input", help="Also feed the subgroup columns to the model.")]
MissingOpt = Annotated[str, typer.Option("--missing", help="Missing values in a table: 'error' or 'impute'.")]
SplitSeedOpt = Annotated[int, typer.Option("--split-seed", help="Seed of the stratified 60/20/20 table split.")]
TargetSensitivityOpt = Annotated[Optional[float], typer.Option(
    "--target-sensitivity", help="Choose the threshold reaching this validation sensitivity (default: Youden).")]
ModelDirOpt = Annotated[Path, typer.Option("--model", help="Run directory (or model.pt) of a trained model.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Run directory to write.")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]
PositiveClassOpt = Annotated[Optional[str], typer.Option(
    "--positive-class", help="The disease class of a binary task, which sensitivity and every binary metric are about "
                             "(default: the dataset's disease class, or a label 1 / yes / true).")]

# Reading images from a folder or a CSV manifest (train, data audit, data prune; later verbs reuse what the
# model recorded).
ImageSizeOpt = Annotated[Optional[int], typer.Option(
    "--image-size", help="Side in px images are resized to (default: their own size, which must then be one square "
                         "size).")]
VolumeSizeOpt = Annotated[Optional[int], typer.Option(
    "--volume-size", help="Side in voxels NIfTI volumes are resampled to (default: their own size, which must then "
                          "be one cubic size).")]
ChannelsOpt = Annotated[Optional[int], typer.Option("--channels", help="1 (grey) or 3 (RGB) for images (default 1).")]
ImageColumnOpt = Annotated[Optional[str], typer.Option(
    "--image-column", help="A CSV manifest's column of image paths (relative to the CSV); --label-column names the label "
                           "column.")]
SplitColumnOpt = Annotated[Optional[str], typer.Option("--split-column", help="Manifest column with train / val / test.")]
GroupColumnOpt = Annotated[Optional[str], typer.Option(
    "--group-column", help="Manifest column with the patient id: splits are made by patient, never across.")]
AllowGroupOverlapOpt = Annotated[bool, typer.Option(
    "--allow-group-overlap", help="Accept given splits that put a patient in two splits.")]
WindowOpt = Annotated[Optional[str], typer.Option(
    "--window", help="Intensity window center,width applied after the DICOM rescale (e.g. 40,400 for CT soft "
                     "tissue); default: the file's own VOI LUT / window, else its full range.")]
SkipUnreadableOpt = Annotated[bool, typer.Option(
    "--skip-unreadable", help="Leave out (and list) image files that cannot be decoded instead of stopping.")]

CacheOpt = Annotated[Optional[Path], typer.Option(
    "--cache", help="Folder keeping decoded, resized images (keyed by file content and reading settings), so later "
                    "epochs and verbs skip decoding.")]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Processes reading image files while training (0: the "
                                                           "main process).")]


def label_column_of(label_column: str | None, target: str | None) -> str | None:
    """--label-column, or the older --target with a one-line notice."""
    if target is None:
        return label_column
    if label_column is not None and label_column != target:
        raise ConfigError(f"--label-column {label_column} and --target {target} disagree: give --label-column only")
    warnings.warn("--target as the label column is deprecated and will mean the compression budget only: use "
                  f"--label-column {target}", FutureWarning, stacklevel=2)
    return target


def image_reading(*, image_size: int | None, channels: int | None, image_column: str | None,
                  split_column: str | None, group_column: str | None, allow_group_overlap: bool,
                  window: str | None, skip_unreadable: bool, cache: Path | None = None, workers: int = 0,
                  volume_size: int | None = None) -> dict:
    """The image options as keyword arguments of `api.load_data`."""
    from medprune import api

    if image_size is not None and volume_size is not None:
        raise ConfigError("give --image-size for 2D images or --volume-size for volumes, not both")
    return {"image_size": image_size if volume_size is None else volume_size, "channels": channels,
            "image_column": image_column,
            "split_column": split_column, "group_column": group_column, "allow_group_overlap": allow_group_overlap,
            "window": api.parse_window(window), "skip_unreadable": skip_unreadable, "cache": cache,
            "workers": workers}
