"""`medprune search`: learn per-layer pruning ratios under a compute budget and clinical constraints."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from medprune import api
from medprune.cli.app import command, console
from medprune.cli.options import DataDirOpt, ModelDirOpt, OptionalDataOpt, ProgressOpt
from medprune.cli.schema_options import settings_options
from medprune.records import SearchRecord


@command("search", outputs={"out": "dir"})
@settings_options(api.AcceleratorOptions, into="accelerator")
def search(
    model: ModelDirOpt,
    accelerator: api.AcceleratorOptions,
    out: Annotated[Path, typer.Option("--out", help="Search folder: study.db, search.json, search.html, best/.")],
    data: OptionalDataOpt = None,
    criterion: Annotated[str, typer.Option(
        help="Channel ranking inside each layer (see `medprune list criteria`).")] = "taylor",
    target: Annotated[str, typer.Option(help="Budget: macs=0.25 (analytic) or latency=0.4 (per-layer latency "
                                             "table measured on this machine in --runtime).")] = "macs=0.25",
    runtime: Annotated[str, typer.Option(help="Where latency targets are measured: torch, onnxruntime or "
                                              "openvino (the runtime that will serve the model).")] = "torch",
    sampler: Annotated[str, typer.Option(help="Learner: tpe, gp, pso, evolution or random.")] = "tpe",
    trials: Annotated[int, typer.Option(help="Finished trials the study should hold.")] = 60,
    objective: Annotated[str, typer.Option(help="Validation objective: auroc or sens@spec=0.9.")] = "auroc",
    require: Annotated[Optional[list[str]], typer.Option(
        "--require",
        help="Constraint on validation at the reference threshold, e.g. sensitivity>=0.95 (repeatable).")] = None,
    operating_margin: Annotated[float, typer.Option(
        help="Reject trials whose validation sensitivity or specificity at the reference threshold falls by more "
             "than this (1 turns the guard off).")] = 0.05,
    max_layer_ratio: Annotated[float, typer.Option(help="No layer loses more than this share of its channels.")] = 0.9,
    round_to: Annotated[int, typer.Option(help="Kept channel counts are multiples of this (CPU kernels vectorise by "
                                               "8 or 16 floats; 1: no rounding).")] = 8,
    budget_policy: Annotated[str, typer.Option(help="Candidates over budget: repair (shrink) or reject.")] = "repair",
    workers: Annotated[int, typer.Option(help="Parallel trial workers.")] = 1,
    backend: Annotated[str, typer.Option(help="local (processes) or ray.")] = "local",
    address: Annotated[Optional[str], typer.Option(
        "--ray-address", "--address", help="Join this Ray cluster (ray://host:10001 or auto; default: start a local "
                                           "Ray).")] = None,
    cpus_per_trial: Annotated[float, typer.Option(help="CPUs each Ray trial worker asks for.")] = 1.0,
    gpus_per_trial: Annotated[float, typer.Option(help="GPUs each Ray trial worker asks for (fractions share one); "
                                                       "its trials score there.")] = 0.0,

    storage: Annotated[Optional[str], typer.Option(help="Optuna storage URL (default sqlite:///OUT/study.db).")] = None,
    warm_start: Annotated[Optional[Path], typer.Option(help="Seed the search with the best candidates of an "
                                                            "earlier search folder.")] = None,
    finetune_top: Annotated[int, typer.Option(help="Top candidates given a short fine-tune before choosing.")] = 3,
    finetune_epochs: Annotated[Optional[int], typer.Option(
        help="Fine-tuning epochs of the chosen candidate (default: the fine-tuning step budget, with early "
             "stopping).")] = None,
    bn_batches: Annotated[int, typer.Option(help="Training batches for BatchNorm recalibration per trial.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the learner and the data batches.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the study in --out (e.g. after a kill).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Discard the study in --out and start again.")] = False,
    data_dir: DataDirOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Search per-layer keep ratios (Bayesian, particle swarm, evolution) scored by adaptive BN on validation."""
    config = api.SearchConfig(model=str(model), storage=storage or "", data=data,
                          data_dir=str(data_dir) if data_dir else None, criterion=criterion, target=target,
                          runtime=runtime,
                          sampler=sampler, trials=trials, objective=objective, require=tuple(require or ()),
                          operating_margin=operating_margin,
                          max_layer_ratio=max_layer_ratio, round_to=round_to, bn_batches=bn_batches,
                          budget_policy=budget_policy, seed=seed)
    api.check_device(accelerator.device)
    options = api.RunOptions(workers=workers, backend=backend, address=address, cpus_per_trial=cpus_per_trial,
                         gpus_per_trial=gpus_per_trial, **accelerator.accelerator(), finetune_top=finetune_top,
                         finetune_epochs=finetune_epochs, warm_start=str(warm_start) if warm_start else None,
                         progress=progress)
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
