"""`medprune predict`: run a saved model on new cases and write one row per case."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medprune import api
from medprune.cli.schema_options import settings_options
from medprune.records import PredictionSummary
from medprune.cli.app import command, console, err_console
from medprune.cli.options import ServedModelOpt, ProgressOpt
from medprune.errors import ConfigError


@command("predict", outputs={"out": "file"})
@settings_options(api.InferenceOptions, into="serving")
def predict(
    model: ServedModelOpt,
    serving: api.InferenceOptions,
    data: Annotated[Path, typer.Option("--data", help="A folder of images, a CSV manifest (with --image-column), or "
                                                      "a table with the model's columns.")],
    out: Annotated[Path, typer.Option("--out", help=(
        "CSV to write: case, class probabilities, decision; for a segmentation model, case, mask file and "
        "structure volumes, with the masks (NIfTI for volumes, PNG for images) in OUT_masks/ beside it."))],
    image_column: Annotated[Optional[str], typer.Option(help="The manifest's column of image paths.")] = None,
    progress: ProgressOpt = True,
    unknown_category: Annotated[str, typer.Option(
        "--unknown-category", help="A table category the model never saw: error (refuse) or ignore (encode as no "
                                   "known category, and count such rows).")] = "error",
    reject_ood: Annotated[bool, typer.Option(
        "--reject-ood", help="Withhold the decision of every case that does not look like the training data "
                             "(flagged in the in_distribution column either way).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing model or data file at --out "
                                                                "(never the command's own inputs).")] = False,
) -> None:
    """Predict new cases with the model's own preprocessing and decision threshold (no labels needed)."""
    if unknown_category not in ("error", "ignore"):
        raise ConfigError(f"--unknown-category must be error or ignore, got '{unknown_category}'")
    api.check_device(serving.device)
    checkpoint = api.load_model(model)
    with api.running_models_on(serving.device, checkpoint):
        options = {"reject_ood": True} if reject_ood else {}
        record = api.predict(checkpoint, data, out, image_column=image_column, progress=progress,
                             unknown_category=unknown_category, overwrite=overwrite, **options)
    summary = PredictionSummary.model_validate(record.to_dict())
    if summary.task == "segmentation":
        console.print(f"{summary.cases} cases segmented -> {out} (structure volumes), masks in {summary.masks}")
        return
    counts = ", ".join(f"{name} {n}" for name, n in summary.predicted.items())
    console.print(f"{summary.cases} cases predicted ({counts}) -> {out}")
    for column, n in summary.unknown_categories.items():
        console.print(f"{n} rows had a '{column}' value the model never saw: encoded as no known category")
    if summary.out_of_distribution:
        action = "their decisions withheld" if summary.withheld else "see in_distribution and ood_reason in the CSV"
        err_console.print(f"[yellow]warning:[/] {summary.out_of_distribution} of {summary.cases} cases do not look "
                          f"like the model's training data ({action})", highlight=False)
