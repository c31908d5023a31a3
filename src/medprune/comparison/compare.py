"""`compare`: run a recipe's techniques, measure them side by side, validate them, write the reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


from medprune._atomic import write_json_atomic
from medprune.comparison.measure import measure_rows
from medprune.comparison.recipe import Recipe, data_options
from medprune.comparison.run import prepare_out, prepare_reference, run_entry
from medprune.data.load import load_data
from medprune.errors import ConfigError
from medprune.hardware.device import resolve_device
from medprune.hardware.distributed import launched_processes, launched_rank, wait_for_all
from medprune.evaluation.efficiency import measurement_conditions
from medprune.evaluation.evaluate import check_model_matches_data, validation_threshold
from medprune.models.checkpoint import load_checkpoint
from medprune.records.comparison import ComparisonRecord, ReferenceModel, Row
from medprune.records.validation import ClassificationVerdict
from medprune.report.comparison import write_comparison_reports
from medprune.validation.protocol import Protocol, ProtocolOptions
from medprune.validation.validate import software_versions, validate


def _robustness_cells(verdict: ClassificationVerdict) -> dict[str, Any]:
    """The row's robustness on corrupted images, when the recipe asked for it."""
    rob = verdict.robustness
    if rob is None:
        return {}
    return {"robustness_verdict": rob.verdict, "worst_corruption": rob.worst_corruption,
            "worst_corruption_delta": rob.worst_delta}


def compare(recipe: Recipe, out: Path, *, resume: bool = False, overwrite: bool = False, progress: bool = True,
            data_dir: Path | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run, measure and validate every technique of `recipe` into `out`; returns `comparison.json`'s record.

    Finished rows are reused with `resume`, so an interrupted comparison continues where it stopped.
    """
    # Under torchrun every process trains and fine-tunes each row together (DistributedDataParallel); rank 0
    # alone writes the rows, then measures and validates them on its own.
    main, device = launched_rank() == 0, resolve_device(recipe.budget.device)
    out = Path(out)
    if main:
        prepare_out(out, resume, overwrite)
    wait_for_all(device)
    if not main:
        progress, log = False, (lambda _: None)
    data, options = data_options(recipe)
    dataset = load_data(data, data_dir=data_dir or (Path(recipe.data_dir) if recipe.data_dir else None), **options)
    if dataset.task == "segmentation":  # its table is AUROC, rates at a threshold and ECE: none apply to contours
        raise ConfigError(f"{dataset.name} is segmentation data and compare tabulates classifiers (AUROC, "
                          "sensitivity at a threshold): run medprune prune / export for each technique, then judge "
                          "them together, per structure, with medprune validate --reference DENSE --candidate ...")
    reference = prepare_reference(recipe, dataset, out, progress, device)
    check_model_matches_data(reference, dataset)
    if reference.threshold is None and dataset.n_classes == 2:
        reference.spec.threshold = validation_threshold(reference, dataset)
    results = [run_entry(entry, reference, dataset, recipe, out, resume=resume, progress=progress, log=log)
               for entry in recipe.techniques]
    if not main:
        return {}

    log("measuring every model side by side")
    models = {"reference": reference, **{r.name: load_checkpoint(Path(r.model_path)) for r in results}}
    v = recipe.validation
    figures = measure_rows(models, dataset, reference.threshold, repeats=recipe.measure.latency_repeats,
                           resamples=v.n_resamples, alpha=v.alpha, onnx_dir=out / "onnx", seed=recipe.budget.seed)
    log("validating non-inferiority")
    shared = v.model_dump(include=set(ProtocolOptions.model_fields))
    primary, by_endpoint = v.primary_and_by_endpoint()
    protocol = Protocol(**shared, margin=primary, endpoints=tuple(v.endpoints) if v.endpoints else None,
                        margins=by_endpoint)
    report = validate(reference, [models[r.name] for r in results], dataset, protocol)
    report.save(out / "validation")
    validation = report.record
    rows = [{"name": "reference", "techniques": [], "steps": [], "wall_time_s": None, **figures["reference"]}]
    for result, verdict in zip(results, validation.candidates):
        rows.append({"name": result.name, "techniques": [s["technique"] for s in result.steps], "steps": result.steps,
                     "wall_time_s": result.wall_time_s, "reused": result.reused, "model_path": result.model_path,
                     **figures[result.name],
                     **verdict.model_dump(include={"verdict", "verdict_reason", "failed_endpoints", "delta", "ci_low",
                                                   "ci_high", "p_adjusted"}),
                     **_robustness_cells(verdict)})
    for row in rows:
        row["fastest_b32_ms"] = min(t["batch32"] for t in row["latency_ms"].values() if t)
    base = rows[0]["latency_ms"]["pytorch"]["batch32"]
    for row in rows:
        row["speedup_b32_vs_reference_pytorch"] = base / row["fastest_b32_ms"]
        row["size_gzip_ratio"] = rows[0]["size_gzip_bytes"] / row["size_gzip_bytes"]
    conditions = measurement_conditions(3, recipe.measure.latency_repeats)
    judged = validation.protocol
    record = ComparisonRecord(
        recipe=recipe.model_dump(), data=dataset.describe(),
        reference=ReferenceModel(path=str(reference.path), architecture=reference.name),
        threshold=reference.threshold,
        budget={**recipe.budget.model_dump(), "processes": launched_processes()},  # that fine-tuned each row
        validation={**v.model_dump(), "endpoints": judged.endpoints, "margins": judged.margins},
        measure={**recipe.measure.model_dump(), **conditions}, rows=[Row.model_validate(row) for row in rows],
        versions=software_versions())
    written = record.to_json_dict()
    write_json_atomic(out / "comparison.json", written)
    write_comparison_reports(record, out)
    return written
