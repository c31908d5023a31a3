"""The Python API behind the CLI: the same verbs, working on run directories (see `medprune.runs`)."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from medprune._atomic import write_json_atomic, write_text_atomic
from medprune.comparison import compare as run_compare
from medprune.comparison import load_recipe
from medprune.data import Dataset, load_data
from medprune.evaluation.evaluate import check_model_matches_data, evaluate, validation_threshold
from medprune.models import Checkpoint, save_checkpoint
from medprune.pruning.prune import NO_SPEEDUP_NOTE, PruningRun, run_schedule
from medprune.pruning.unstructured import make_permanent
from medprune.report import render_pruning_summary
from medprune.runs import (STATE_FILE, check_trainable, evaluate_model, import_model, load_data_for, load_model,
                           metrics_record, prepare_out, train)
from medprune.validation import read_subgroup_file
from medprune.validation import validate as run_validation

__all__ = ["STATE_FILE", "check_trainable", "compare", "evaluate_model", "import_model", "load_data", "load_data_for",
           "load_model", "prune", "train", "validate"]

PRUNE_STATE_FILE = "prune_state.pt"


def prune(dense: Checkpoint, dataset: Dataset, settings: Any, out: str | Path, *, resume: bool = False,
          overwrite: bool = False, progress: bool = True, log: Any = None, latency_repeats: int = 10) -> dict[str, Any]:
    """Prune a trained model into the run directory `out`; returns its metrics record.

    The pruned model is evaluated at the dense model's validation threshold, carried unchanged, and
    the dense model's evaluation is stored under `reference`.
    """
    out = Path(out)
    settings.check()
    check_model_matches_data(dense, dataset)
    prepare_out(out, resume, overwrite, PRUNE_STATE_FILE)
    began = time.perf_counter()
    threshold = dense.threshold if dense.threshold is not None else validation_threshold(dense, dataset)
    reference = evaluate(dense, dataset, threshold=threshold, latency_repeats=latency_repeats)
    run = PruningRun(copy.deepcopy(dense.model), dense, dataset, settings, log or (lambda _: None), progress)
    steps = run_schedule(run, out / PRUNE_STATE_FILE, resume)
    make_permanent(run.model)
    achieved = run.achieved()
    spec = {k: v for k, v in dense.spec.items() if k not in ("layers", "prune_progress")}
    spec["pruning"] = settings.to_dict()
    pruned = Checkpoint(model=run.model, spec=spec, path=out / "model.pt")
    save_checkpoint(out / "model.pt", run.model, spec)
    result = evaluate(pruned, dataset, threshold=threshold, latency_repeats=latency_repeats)
    record = metrics_record(result, dataset, pruned)
    record["threshold_method"] = "dense model's validation threshold, carried unchanged"
    record["pruning"] = {"method": settings.method, "granularity": settings.granularity, "target": settings.target,
                         "schedule": settings.schedule, "achieved": achieved, "steps": steps,
                         "wall_time_s": time.perf_counter() - began, "settings": settings.to_dict()}
    if not settings.structured:
        record["pruning"]["note"] = NO_SPEEDUP_NOTE
    record["reference"] = reference.to_dict()
    write_json_atomic(out / "metrics.json", record)
    write_text_atomic(out / "summary.md", render_pruning_summary(record))
    (out / PRUNE_STATE_FILE).unlink(missing_ok=True)
    return record


def validate(reference: Checkpoint, candidates: list[Checkpoint], dataset: Dataset, protocol: Any,
             out: str | Path, *, subgroup_file: Path | None = None, intended_use: str | None = None) -> dict[str, Any]:
    """Validate candidates against the reference; write `validation.json` and `report.html` into `out`."""
    values = {}
    if subgroup_file is not None:
        n = len(dataset.split(protocol.split))
        values = {column: read_subgroup_file(subgroup_file, column, n) for column in protocol.subgroups}
    report = run_validation(reference, candidates, dataset, protocol, subgroup_values=values)
    report.save(out, intended_use=intended_use)
    return report.record


def compare(recipe: str | Path, out: str | Path, *, resume: bool = False, overwrite: bool = False,
            progress: bool = True, data_dir: Path | None = None) -> dict[str, Any]:
    """Run every technique of a YAML recipe against its reference; returns the `comparison.json` record."""
    return run_compare(load_recipe(recipe), Path(out), resume=resume, overwrite=overwrite, progress=progress,
                       data_dir=data_dir)
