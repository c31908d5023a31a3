"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DataOpt = Annotated[str, typer.Option("--data", help="MedMNIST name (pneumoniamnist, pneumoniamnist@64), "
                                                     "or a path to an .npz (MedMNIST layout) or .csv table.")]
OptionalDataOpt = Annotated[Optional[str], typer.Option("--data", help="Data to use; default: the data the "
                                                                        "model was trained on.")]
DataDirOpt = Annotated[Optional[Path], typer.Option("--data-dir", help="Folder searched first for MedMNIST "
                                                                        "files (then $MEDPRUNE_DATA, then the cache).")]
TargetOpt = Annotated[Optional[str], typer.Option("--target", help="Label column of a CSV table.")]
SubgroupOpt = Annotated[Optional[list[str]], typer.Option("--subgroup", help="CSV column kept aside as subgroup "
                                                                              "metadata for audits (repeatable).")]
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
