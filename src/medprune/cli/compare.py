"""`medprune compare RECIPE.yaml`: every compression technique on one model and data, measured alike."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from medprune import api
from medprune.records import ComparisonBase, SegmentationComparison
from medprune.cli.app import command, console, err_console
from medprune.cli.options import DataDirOpt, ProgressOpt
from medprune.hardware.distributed import launched_rank
from medprune.outputs import claim_outputs


@command("compare", outputs={"out": "dir"})
def compare(
    recipe: Annotated[Path, typer.Argument(help="YAML recipe: data, reference, techniques, budget (see examples/).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default runs/compare/RECIPE).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Reuse the rows an earlier run of this recipe finished.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite",
                                            help="Discard earlier rows and run every technique again.")] = False,
    data_dir: DataDirOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Run the recipe's techniques; write comparison.json, comparison.md, comparison.html and a validation report."""
    if out is None:  # the default folder is claimed like a given one: two runs of a recipe cannot both write it
        out = Path("runs/compare") / recipe.stem
        # under torchrun the process of rank 0 claims the folder, as the command does a given --out
        claim = claim_outputs({out: "dir"}, [recipe], forced=overwrite) if launched_rank() == 0 else nullcontext()
        with claim:
            _compare(recipe, out, resume, overwrite, data_dir, progress)
    else:
        _compare(recipe, out, resume, overwrite, data_dir, progress)


def _compare(recipe: Path, out: Path, resume: bool, overwrite: bool, data_dir: Path | None, progress: bool) -> None:
    record = api.compare(recipe, out, resume=resume, overwrite=overwrite, progress=progress, data_dir=data_dir,
                         log=lambda text: err_console.print(text, highlight=False))
    if not record:  # a torchrun process other than rank 0: that one reports
        return
    compared = ComparisonBase.read(record.to_dict())
    table = Table(title=f"compression techniques on {compared.data['name']}")
    segmentation = isinstance(compared, SegmentationComparison)
    columns, cells = ((api.SEGMENTATION_TERMINAL_COLUMNS, api.segmentation_terminal_cells) if segmentation
                      else (api.TERMINAL_COLUMNS, api.terminal_cells))
    for column in columns:
        table.add_column(column)
    for row in compared.rows:
        table.add_row(*cells(row))
    console.print(table)
    if segmentation:
        console.print(f"Dice and HD95 ({compared.spacing_unit}) per structure: {' / '.join(compared.structures)}; "
                      "speed-up: reference PyTorch latency per case / this model's fastest runtime")
        for said in compared.too_few:
            console.print(f"Too few to judge: {said}", markup=False, highlight=False)
    else:
        console.print("speed-up: reference PyTorch batch-32 latency / this model's fastest runtime (PyTorch or ONNX "
                      "Runtime)")
    console.print(f"written: {out / 'comparison.html'}, {out / 'comparison.md'}, {out / 'comparison.json'}; "
                  f"validation evidence in {out / 'validation' / 'report.html'}")
