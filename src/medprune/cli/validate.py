"""`medprune validate`: is each candidate non-inferior to the reference on the same test cases?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from medprune import api
from medprune.cli.app import command, console
from medprune.cli.options import DataDirOpt, OptionalDataOpt, SubgroupOpt
from medprune.validation import Protocol


@command("validate")
def validate(
    reference: Annotated[Path, typer.Option("--reference", help="Run directory (or model.pt) of the reference model.")],
    candidate: Annotated[list[Path], typer.Option("--candidate", help="Run directory of a candidate (repeatable).")],
    data: OptionalDataOpt = None,
    metric: Annotated[str, typer.Option(help="Primary metric: auroc, sensitivity, specificity, ppv, npv, "
                                             "accuracy, balanced_accuracy.")] = "auroc",
    margin: Annotated[float, typer.Option(help="Non-inferiority margin: the largest acceptable loss.")] = 0.01,
    alpha: Annotated[float, typer.Option(help="Error rate; intervals are (1 - alpha) two-sided.")] = 0.05,
    subgroup: SubgroupOpt = None,
    subgroup_file: Annotated[Optional[Path], typer.Option(help="CSV with one row per test case holding the "
                                                               "--subgroup columns (for image data).")] = None,
    recalibrate: Annotated[bool, typer.Option("--recalibrate", help="Also report calibration after temperature "
                                                                   "scaling fitted on validation.")] = False,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    intended_use: Annotated[Optional[str], typer.Option(help="Intended-use statement for the model card.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Report directory.")] = Path("runs/validation"),
    data_dir: DataDirOpt = None,
) -> None:
    """Decide non-inferiority with a pre-specified margin; write validation.json and report.html."""
    protocol = Protocol(metric=metric, margin=margin, alpha=alpha, n_resamples=resamples, seed=seed,
                        subgroups=list(subgroup or []), recalibrate=recalibrate)
    ref = api.load_model(reference)
    cands = [api.load_model(c) for c in candidate]
    table_subgroups = None if subgroup_file else (subgroup or None)
    dataset = api.load_data_for(ref, data, data_dir=data_dir, subgroups=table_subgroups)
    record = api.validate(ref, cands, dataset, protocol, out, subgroup_file=subgroup_file, intended_use=intended_use)
    table = Table(title=f"non-inferiority on {dataset.name}: {metric}, margin {margin:g}")
    for column in ("candidate", "verdict", "delta", "95% CI", "DeLong p", "flags"):
        table.add_column(column)
    for c in record["candidates"]:
        table.add_row(c["name"], c["verdict"], f"{c['delta']:+.4f}", f"{c['ci_low']:+.4f} to {c['ci_high']:+.4f}",
                      f"{c['delong_p']:.3g}", ", ".join(c["subgroup_flags"]))
    console.print(table)
    console.print(f"report written to {out / 'report.html'} and {out / 'validation.json'}")
