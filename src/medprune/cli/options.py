"""Options shared by several commands, declared once."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from medprune.api import DataOptions
from medprune.cli.schema_options import option_of
from medprune.errors import ConfigError

DataOpt = Annotated[str, typer.Option("--data", help="MedMNIST name (pneumoniamnist, pneumoniamnist@64), an .npz "
                                                     "(MedMNIST layout), a folder of images (class_name/file: PNG, "
                                                     "JPEG, DICOM, NIfTI), a CSV manifest (--image-column; with "
                                                     "--mask-column for segmentation) or table, a Decathlon "
                                                     "dataset.json or its folder, or a subset.json of `data "
                                                     "prune`.")]
OptionalDataOpt = Annotated[Optional[str], typer.Option("--data", help="Data to use; default: the data the "
                                                                        "model was trained on.")]
DataDirOpt = Annotated[Optional[Path], typer.Option("--data-dir", help="Folder searched first for MedMNIST "
                                                                        "files (then $MEDPRUNE_DATA, then the cache).")]
# The data options of commands that read data without DataOptions' other options, from the same declaration.
LabelColumnOpt = Annotated[Optional[str], option_of("label_column", DataOptions.model_fields["label_column"])]
PositiveClassOpt = Annotated[Optional[str], option_of("positive_class", DataOptions.model_fields["positive_class"])]
# --target named the label column before it meant the compression budget everywhere: read for one release.
OldLabelColumnOpt = Annotated[Optional[str], typer.Option("--target", hidden=True, help="Older spelling of "
                                                                                       "--label-column.")]
SubgroupOpt = Annotated[Optional[list[str]], typer.Option("--subgroup", help="CSV column kept aside as subgroup "
                                                                              "metadata for audits (repeatable).")]
TargetSensitivityOpt = Annotated[Optional[float], typer.Option(
    "--target-sensitivity", help="Choose the threshold reaching this validation sensitivity (default: Youden).")]
ModelDirOpt = Annotated[Path, typer.Option("--model", help="Run directory (or model.pt) of a trained model.")]
# Verbs that run a model as it is served also take its exported files.
ServedModelOpt = Annotated[Path, typer.Option("--model", help="Run directory or model.pt, or an exported .onnx, "
                                                               ".xml (OpenVINO) or TorchScript .pt file.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Run directory to write.")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]


def label_column_of(label_column: str | None, target: str | None) -> str | None:
    """--label-column, or the older --target with a one-line notice."""
    if target is None:
        return label_column
    if label_column is not None and label_column != target:
        raise ConfigError(f"--label-column {label_column} and --target {target} disagree: give --label-column only")
    warnings.warn("--target as the label column is deprecated and will mean the compression budget only: use "
                  f"--label-column {target}", FutureWarning, stacklevel=2)
    return target

