"""`compare`: run a recipe's techniques, measure them side by side, validate them, write the reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


from medprune._atomic import write_json_atomic
from medprune.comparison.measure import measure_rows
from medprune.comparison.recipe import Recipe, data_options
from medprune.comparison.run import prepare_out, prepare_reference, run_entry
from medprune.comparison.segmentation import judge_rows, segmentation_margins, segmentation_rows, too_few
from medprune.compress import check_task
from medprune.data.dataset import Dataset
from medprune.data.load import load_data
from medprune.hardware.device import resolve_device
from medprune.hardware.distributed import launched_processes, launched_rank, wait_for_all
from medprune.evaluation.efficiency import measurement_conditions
from medprune.evaluation.evaluate import check_model_matches_data, validation_threshold
from medprune.models.checkpoint import Checkpoint, load_checkpoint
from medprune.records.comparison import (REFERENCE_CELLS, ComparisonRecord, EntryRecord, ReferenceModel, Row,
                                         SegmentationComparison)
from medprune.segmentation.run import check_segmentation_model
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
    segmentation = dataset.task == "segmentation"
    for entry in recipe.techniques:  # what cannot run on this task is said before any training
        check_task(list(entry.chain), dataset.task)
    if segmentation:
        segmentation_margins(recipe.validation)
    reference = prepare_reference(recipe, dataset, out, progress, device)
    if segmentation:
        check_segmentation_model(reference, dataset)
    else:
        check_model_matches_data(reference, dataset)
    if not segmentation and reference.threshold is None and dataset.n_classes == 2:
        reference.spec.threshold = validation_threshold(reference, dataset)
    results = [run_entry(entry, reference, dataset, recipe, out, resume=resume, progress=progress, log=log)
               for entry in recipe.techniques]
    if not main:
        return {}
    models = {r.name: load_checkpoint(Path(r.model_path)) for r in results}
    record = (_segmentation_table if segmentation else _classification_table)(
        recipe, dataset, reference, results, models, out, log)
    written = record.to_json_dict()
    write_json_atomic(out / "comparison.json", written)
    write_comparison_reports(record, out)
    return written


def _shared(recipe: Recipe, dataset: Dataset, reference: Checkpoint) -> dict[str, Any]:
    """What the record of either task says of the recipe, the data, the reference and the measurement."""
    return {"recipe": recipe.model_dump(), "data": dataset.describe(),
            "reference": ReferenceModel(path=str(reference.path), architecture=reference.name),
            "budget": {**recipe.budget.model_dump(), "processes": launched_processes()},  # that fine-tuned each row
            "measure": {**recipe.measure.model_dump(), **measurement_conditions(3, recipe.measure.latency_repeats)},
            "versions": software_versions()}


def _segmentation_table(recipe: Recipe, dataset: Dataset, reference: Checkpoint, results: list[EntryRecord],
                        models: dict[str, Checkpoint], out: Path, log: Callable[[str], None]) -> SegmentationComparison:
    log("validating non-inferiority per structure")
    validation = judge_rows(reference, models, dataset, recipe, out / "validation")
    log("measuring every model side by side")
    rows = segmentation_rows(reference, results, models, dataset, recipe, validation, out / "onnx")
    p = validation.protocol
    return SegmentationComparison(
        **_shared(recipe, dataset, reference), structures=dataset.structures,
        spacing_unit=p.conventions.get("spacing_unit", "mm"), rows=rows, too_few=too_few(validation, p.alpha),
        validation={**recipe.validation.model_dump(), "margins": p.margins, "min_cases": p.min_cases,
                    "segmentation_margins": p.segmentation_margins})


def _classification_table(recipe: Recipe, dataset: Dataset, reference: Checkpoint, results: list[EntryRecord],
                          models: dict[str, Checkpoint], out: Path, log: Callable[[str], None]) -> ComparisonRecord:
    log("measuring every model side by side")
    v = recipe.validation
    figures = measure_rows({"reference": reference, **models}, dataset, reference.threshold,
                           repeats=recipe.measure.latency_repeats, resamples=v.n_resamples, alpha=v.alpha,
                           onnx_dir=out / "onnx", seed=recipe.budget.seed)
    log("validating non-inferiority")
    shared = v.model_dump(include=set(ProtocolOptions.model_fields))
    primary, by_endpoint = v.primary_and_by_endpoint()
    protocol = Protocol(**shared, margin=primary, endpoints=tuple(v.endpoints) if v.endpoints else None,
                        margins=by_endpoint)
    report = validate(reference, list(models.values()), dataset, protocol)
    report.save(out / "validation")
    validation = report.record
    rows = [{**REFERENCE_CELLS, **figures["reference"]}]
    for result, verdict in zip(results, validation.candidates):
        rows.append({**result.row_cells(), **figures[result.name],
                     **verdict.model_dump(include={"verdict", "verdict_reason", "failed_endpoints", "delta", "ci_low",
                                                   "ci_high", "p_adjusted"}),
                     **_robustness_cells(verdict)})
    for row in rows:
        row["fastest_b32_ms"] = min(t["batch32"] for t in row["latency_ms"].values() if t)
    base = rows[0]["latency_ms"]["pytorch"]["batch32"]
    for row in rows:
        row["speedup_b32_vs_reference_pytorch"] = base / row["fastest_b32_ms"]
        row["size_gzip_ratio"] = rows[0]["size_gzip_bytes"] / row["size_gzip_bytes"]
    judged = validation.protocol
    return ComparisonRecord(
        **_shared(recipe, dataset, reference), threshold=reference.threshold,
        validation={**v.model_dump(), "endpoints": judged.endpoints, "margins": judged.margins},
        rows=[Row.model_validate(row) for row in rows])
