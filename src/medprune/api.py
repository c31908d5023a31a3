"""The Python API behind the CLI: the same verbs, working on run directories (see `medprune.runs`)."""

from __future__ import annotations

import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

from medprune._atomic import write_json_atomic, write_text_atomic
from medprune.comparison import compare as run_compare
from medprune.comparison import Recipe, load_recipe
from medprune.data import DataOptions, Dataset, load_data
from medprune.errors import ConfigError
from medprune.evaluation.evaluate import check_model_matches_data, evaluate, validation_threshold
from medprune.models import Checkpoint, save_checkpoint
from medprune.pruning.prune import NO_SPEEDUP_NOTE, prune_checkpoint
from medprune.report import render_pruning_summary
from medprune.records.base import set_fields
from medprune.records.metrics import ClassificationFigures, Pruning
from medprune.results import RunResult, returns_result
from medprune.runs import (STATE_FILE, check_run_out, check_trainable, load_data_for, load_model, metrics_record,
                           prepare_out)
from medprune.runs import evaluate_model as _evaluate_model
from medprune.runs import import_model as _import_model
from medprune.runs import train as _train
from medprune.validation import read_subgroup_file
from medprune.validation import validate as run_validation
# Settings and registries the CLI and recipes name, re-exported so the CLI reaches everything through here.
from medprune.compress import TECHNIQUES
from medprune.data import DATASETS
from medprune.data.audit import AuditSettings
from medprune.data.corruptions import CORRUPTIONS
from medprune.data.images import parse_window
from medprune.data.audit import audit as run_audit
from medprune.data.positive import check_positive_applies
from medprune.datapruning import SCORES, ProxySettings, Selection
from medprune.datapruning import prune_data as _prune_data
from medprune.deploy.export import ExportSettings, export
from medprune.prediction import predict as _predict
from medprune.models import MODELS
from medprune.data.input_scaling import declared_scaling
from medprune.models.imported import (FACTORY_PREFIX, MONAI_PREFIX, bundle_input_range, read_bundle,
                                      set_trusted_factories,
                                      trust_factory)
from medprune.evaluation.input_profile import fit_profile
from medprune.hardware.device import resolve_device, running_on
from medprune.hardware.distributed import launched_rank
from medprune.hardware.options import AcceleratorOptions, InferenceOptions, LatencyOptions
from medprune.pruning import CRITERIA, PruneSettings
from medprune.report.audit import render_audit_report
from medprune.report.comparison import (SEGMENTATION_TERMINAL_COLUMNS, TERMINAL_COLUMNS, segmentation_terminal_cells,
                                        terminal_cells)
from medprune.search import LEARNERS, RunOptions, SearchConfig
from medprune.search import search as _search
from medprune.training import TrainConfig
from medprune.training.budget import parse_duration
from medprune.validation.noninferiority import MIN_CASES_PER_CLASS
from medprune.validation.segmentation import MIN_SEGMENTATION_CASES, SegmentationMargins
from medprune.validation.validate import unique_names
from medprune.segmentation.predict import predict_segmentation
from medprune.segmentation import (check_segmentation_model, evaluate_segmentation, parse_segmentation_margins,
                                   render_segmentation_summary, save_segmentation_validation)
from medprune.segmentation import validate_segmentation as _validate_segmentation
from medprune.data.segmentation import SegmentationDataset
from medprune.validation.protocol import Protocol, ProtocolOptions, build_protocol

__all__ = ["AcceleratorOptions", "InferenceOptions", "LatencyOptions", "running_models_on", "bundle_input_range",
           "declared_scaling",
           "CORRUPTIONS", "CRITERIA", "DATASETS", "LEARNERS", "MIN_CASES_PER_CLASS", "MODELS",
           "SCORES", "STATE_FILE",
           "TECHNIQUES", "TERMINAL_COLUMNS", "AuditSettings", "DataOptions", "ExportSettings", "Protocol", "ProtocolOptions",
           "ProxySettings",
           "PruneSettings",
           "RunOptions",
           "RunResult", "SEGMENTATION_TERMINAL_COLUMNS", "SearchConfig", "Selection", "TrainConfig", "audit_data",
           "build_protocol",
           "check_device", "check_positive_applies", "check_run_out", "check_trainable", "choose_shipped", "compare",
           "evaluate_model",
           "export",
           "int8_exports",
           "import_model", "load_data", "load_data_for", "load_model", "network_to_import", "parse_duration",
           "parse_segmentation_margins", "parse_window", "validate_segmentation",
           "predict",
           "prune", "prune_data", "search", "segmentation_terminal_cells", "set_trusted_factories", "terminal_cells",
           "train", "validate",
           "write_json_atomic"]

PRUNE_STATE_FILE = "prune_state.pt"

def check_device(name: str) -> None:
    """Refuse a device this machine does not have before any data is read (a one-line ConfigError)."""
    resolve_device(name)


def running_models_on(device: str, *checkpoints: Checkpoint):
    """A block inside which the checkpoints' models run on `device` (a one-line error when it is absent);
    predictions come back to the CPU, latency is measured there, and the models are on the CPU after it."""
    return running_on([c.model for c in checkpoints], resolve_device(device))


# Every run-directory verb returns a RunResult: its JSON record, read-only, with to_dict().
train = returns_result(_train)
evaluate_model = returns_result(_evaluate_model)
import_model = returns_result(_import_model)
@returns_result
def predict(checkpoint: Checkpoint, data: str | Path, out: str | Path, *, image_column: str | None = None,
            progress: bool = True, overwrite: bool = False, **options: Any) -> dict[str, Any]:
    """Run a model on new cases: class probabilities and decisions (CSV), or for a segmentation model each case's
    label map (NIfTI / PNG beside the CSV) and structure volumes."""
    if checkpoint.spec.task == "segmentation":
        return predict_segmentation(checkpoint, data, out, image_column=image_column, progress=progress,
                                    overwrite=overwrite)
    return _predict(checkpoint, data, out, image_column=image_column, progress=progress, **options)
prune_data = returns_result(_prune_data)
search = returns_result(_search)


@returns_result
def prune(dense: Checkpoint, dataset: Dataset, settings: PruneSettings, out: str | Path, *, resume: bool = False,
          overwrite: bool = False, progress: bool = True, log: Callable[[str], None] | None = None,
          latency_repeats: int = 10) -> dict[str, Any]:
    """Prune a trained model into the run directory `out`; returns its metrics record.

    The pruned model is evaluated at the dense model's validation threshold, carried unchanged, and
    the dense model's evaluation is stored under `reference`.
    """
    out = Path(out)
    segmentation = dataset.task == "segmentation"
    if segmentation:
        check_segmentation_model(dense, dataset)
    else:
        check_model_matches_data(dense, dataset)
    if launched_rank() != 0:  # under torchrun: prune the same way, resume from the same state, fine-tune alongside
        prune_checkpoint(dense, dataset, settings, log=lambda _: None, progress=False,  # rank 0, which writes
                         state_path=out / PRUNE_STATE_FILE, resume=resume)
        return {}
    prepare_out(out, resume, overwrite, PRUNE_STATE_FILE)
    began = time.perf_counter()
    if segmentation:
        reference = evaluate_segmentation(dense, dataset, latency_repeats=latency_repeats)
    else:
        threshold = dense.threshold if dense.threshold is not None else validation_threshold(dense, dataset)
        reference = evaluate(dense, dataset, threshold=threshold, latency_repeats=latency_repeats).to_dict()
    model, steps, achieved = prune_checkpoint(dense, dataset, settings, log=log or (lambda _: None),
                                              progress=progress, state_path=out / PRUNE_STATE_FILE, resume=resume)
    spec = dense.spec.for_new_weights(pruning=settings.to_dict(), input_profile=fit_profile(model, dataset))
    pruned = Checkpoint(model=model, spec=spec, path=out / "model.pt")
    save_checkpoint(out / "model.pt", model, spec)
    pruning = {"criterion": settings.criterion, "granularity": settings.granularity, "target": settings.target,
               "schedule": settings.schedule, "achieved": achieved, "steps": steps,
               "wall_time_s": time.perf_counter() - began, "settings": settings.to_dict()}
    if not settings.structured:
        pruning["note"] = NO_SPEEDUP_NOTE
    if segmentation:
        metrics = evaluate_segmentation(pruned, dataset, latency_repeats=latency_repeats)
        metrics.pruning, metrics.reference = pruning, reference
        record, summary = metrics.to_json_dict(), render_segmentation_summary(metrics)
    else:
        metrics = metrics_record(evaluate(pruned, dataset, threshold=threshold, latency_repeats=latency_repeats),
                                 dataset, pruned)
        set_fields(metrics, threshold_method="dense model's validation threshold, carried unchanged",
                   pruning=Pruning.model_validate(pruning), reference=ClassificationFigures.model_validate(reference))
        record, summary = metrics.to_json_dict(), render_pruning_summary(metrics)
    write_json_atomic(out / "metrics.json", record)
    write_text_atomic(out / "summary.md", summary)
    (out / PRUNE_STATE_FILE).unlink(missing_ok=True)
    return record


@returns_result
def validate(reference: Checkpoint, candidates: list[Checkpoint], dataset: Dataset, protocol: Protocol,
             out: str | Path, *, subgroup_file: Path | None = None, intended_use: str | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Validate candidates against the reference; write `validation.json` and `report.html` into `out`
    (`progress`: a bar over the robustness conditions, the long part)."""
    values = {}
    if subgroup_file is not None:
        n = len(dataset.split(protocol.split))
        values = {column: read_subgroup_file(subgroup_file, column, n) for column in protocol.subgroups}
    report = run_validation(reference, candidates, dataset, protocol, subgroup_values=values, progress=progress)
    report.save(out, intended_use=intended_use)
    return report.to_dict()


def validate_segmentation(reference: Checkpoint, candidates: list[Checkpoint], dataset: SegmentationDataset,
                          out: str | Path, *, margins: SegmentationMargins | None = None, alpha: float = 0.05,
                          n_resamples: int = 2000, seed: int = 0, min_cases: int | None = None,
                          subgroups: list[str] | None = None, intended_use: str | None = None) -> dict[str, Any]:
    """Judge segmentation candidates against the reference on the test split (Dice and HD95 per structure, the
    share of cases that lose Dice); write `validation.json` and `report.html` into `out`."""
    names = unique_names(candidates)
    record, predictions = _validate_segmentation(
        reference, candidates, names, dataset, margins=margins or SegmentationMargins(), alpha=alpha,
        n_resamples=n_resamples, seed=seed, min_cases=MIN_SEGMENTATION_CASES if min_cases is None else min_cases,
        subgroups=subgroups)
    save_segmentation_validation(record, predictions, dataset, Path(out), intended_use=intended_use)
    return record.to_json_dict()


@returns_result
def compare(recipe: str | Path | Recipe, out: str | Path, *, resume: bool = False, overwrite: bool = False,
            progress: bool = True, data_dir: Path | None = None,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every technique of a recipe (a YAML file, or a loaded one) against its reference; returns the
    `comparison.json` record."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    return run_compare(recipe, Path(out), resume=resume, overwrite=overwrite, progress=progress, data_dir=data_dir,
                       log=log)


@returns_result
def audit_data(dataset: Dataset, settings: AuditSettings, *, model: Checkpoint | None = None,
               json_out: Path | None = None, html: Path | None = None) -> dict[str, Any]:
    """Duplicates, leakage and redundancy of a dataset (optionally in a model's feature space); writes the
    JSON record and the HTML page when paths are given."""
    if model is not None:
        check_model_matches_data(model, dataset)
    record = run_audit(dataset, settings, model=model.model if model is not None else None)
    if json_out:
        write_json_atomic(json_out, record)
    if html:
        write_text_atomic(html, render_audit_report(record, dataset))
    return record


def int8_exports(model: Checkpoint, dataset: Dataset, stem: str | Path, *,
                 repeats: int = 30) -> tuple[dict[str, Path], dict[str, Any], dict[str, float]]:
    """Quantize `model` to int8 for ONNX Runtime (`stem.onnx`) and OpenVINO (`stem.xml`), time both at batch 32
    in alternating blocks on this CPU, and return ({runtime: file}, {runtime: ExportResult}, {runtime: ms}),
    fastest first."""
    from medprune.evaluation.efficiency import measure_latency_interleaved
    from medprune.models import load_checkpoint

    stem = Path(stem)
    paths = {"onnxruntime": stem.with_suffix(".onnx"), "openvino": stem.with_suffix(".xml")}
    exports = {runtime: export(model, dataset, path, format="onnx" if runtime == "onnxruntime" else "openvino",
                                  int8=True)
               for runtime, path in paths.items()}
    latency = measure_latency_interleaved({r: load_checkpoint(p).model for r, p in paths.items()},
                                          tuple(dataset.input_shape), 32, repeats=repeats)
    return {r: paths[r] for r in sorted(paths, key=latency.get)}, exports, latency


def choose_shipped(fastest_first: list[Path], verdicts: dict[str, str], pruned: Path, dense: Path) -> tuple[Path, str]:
    """What to deploy, as the validation supports it: the fastest exported file shown non-inferior, else the
    pruned model if it is, else the dense model stays in service. `verdicts` maps a candidate's name (a file's
    name, or "pruned") to its verdict; returns the path and the sentence that says why."""
    shipped = next((f for f in fastest_first if verdicts.get(f.name) == "non-inferior"), None)
    if shipped is not None:
        return shipped, f"{shipped.name} is the fastest file shown non-inferior"
    if verdicts.get("pruned") == "non-inferior":
        return pruned, "no int8 file was shown non-inferior: shipping the pruned fp32 model"
    return dense, "no compressed model was shown non-inferior: keeping the dense model"


def network_to_import(*, monai: str | None, factory: str | None, bundle: Path | None, kwargs: dict[str, Any],
                      trust_bundle_code: bool = False) -> tuple[str, dict[str, Any], Path | None]:
    """(checkpoint name, keyword arguments, weights found in a bundle) of the network named by exactly one of
    a MONAI name, a factory (which the user names, so it is trusted) or a MONAI bundle folder (read as data
    unless `trust_bundle_code`)."""
    if sum(v is not None for v in (monai, factory, bundle)) != 1:
        raise ConfigError("give exactly one of --monai NAME, --factory package.module:function or --bundle DIR")
    if bundle is not None:
        name, bundle_kwargs, weights = read_bundle(bundle, trust_code=trust_bundle_code)
        return name, {**bundle_kwargs, **kwargs}, weights
    if factory is not None:
        trust_factory(factory)
        return FACTORY_PREFIX + factory, kwargs, None
    return MONAI_PREFIX + monai, kwargs, None
