"""`medprune search`: learn per-layer pruning ratios under a compute budget and clinical constraints."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from medprune import api
from medprune.cli.app import command, console
from medprune.cli.options import DataDirOpt, ModelDirOpt, OptionalDataOpt, ProgressOpt
from medprune.cli.schema_options import settings_options
from medprune.records import SearchRecord


@command("search", outputs={"out": "dir"})
@settings_options(api.SearchConfig, into="config")
@settings_options(api.RunOptions, into="options")
@settings_options(api.AcceleratorOptions, into="accelerator")
def search(
    model: ModelDirOpt,
    config: api.SearchConfig,
    options: api.RunOptions,
    accelerator: api.AcceleratorOptions,
    out: Annotated[Path, typer.Option("--out", help="Search folder: study.db, search.json, search.html, best/.")],
    data: OptionalDataOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the study in --out (e.g. after a kill).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Discard the study in --out and start again.")] = False,
    data_dir: DataDirOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Search per-layer keep ratios (Bayesian, particle swarm, evolution) scored by adaptive BN on validation.

    The search settings are declared once in medprune.search.SearchConfig and medprune.search.RunOptions (their
    Python keywords)."""
    config = config.replace(model=str(model), data=data, data_dir=str(data_dir) if data_dir else None)
    api.check_device(accelerator.device)
    options = options.replace(**accelerator.accelerator(), progress=progress)
    record = SearchRecord.model_validate(api.search(config, out, options, resume=resume, overwrite=overwrite).to_dict())
    best, counts = record.best, record.counts
    console.print(f"{record.trials} trials ({counts.repaired} repaired into the budget, {counts.rejected} rejected, "
                  f"{counts.infeasible} missing a requirement) in {record.wall_time_s:.0f} s")
    console.print(f"best: trial {best.trial}, validation {record.objective} {best.objective:.4f} -> "
                  f"{best.objective_after_finetune:.4f} after fine-tuning, MACs x{best.macs_ratio:.3f}, "
                  f"{best.latency_ms:.1f} ms at batch {best.latency_batch} in {best.runtime} (dense "
                  f"{best.dense_latency_ms:.1f}); {best.test_figure}")
    for metric, values in best.operating_point_shift.items():
        warnings.warn(f"at the reference threshold the searched model's validation {metric} is {values.searched:.3f} "
                      f"(dense {values.dense:.3f}): its probabilities moved; add --require {metric}>=X to the "
                      "search, or validate it with medprune validate before use", stacklevel=1)
    console.print(f"written: {Path(out) / 'search.json'}, {Path(out) / 'search.html'}, model in {Path(out) / 'best'}")
