"""Run directories: train, import, load and evaluate models kept as `model.pt` + `metrics.json` folders.

A run directory holds `model.pt` (portable checkpoint), `metrics.json` (test evaluation with
efficiency, data and training records), `train_log.jsonl` and `summary.md`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from medprune.records.metrics import ClassificationMetrics, Training, TrainingOutcome
from medprune._atomic import write_json_atomic, write_text_atomic
from medprune.data import Dataset, load_data
from medprune.data.batches import to_tensor
from medprune.data.input_scaling import MEDPRUNE_SCALING, check_channels
from medprune.models.imported import build_imported, is_imported, load_weights
from medprune.errors import ConfigError, DataError, MedpruneError
from medprune.hardware.distributed import launched_rank
from medprune.evaluation.evaluate import check_input_shape, evaluate, metrics_record, validation_threshold
from medprune.evaluation.input_profile import check_cases, fit_profile
from medprune.evaluation.metrics import check_threshold_data
from medprune.models import Checkpoint, create_model, load_checkpoint, make_spec, save_checkpoint
from medprune.report import render_run_summary
from medprune.segmentation import (check_segmentation_model, evaluate_segmentation, render_segmentation_summary,
                                   train_segmentation)
from medprune.training.run_files import STATE_FILE, write_training_files
from medprune.training.segmentation import Inference
from medprune.training import TrainConfig, TrainResult, fit
from medprune.validation.validate import sha256



def load_model(path: str | Path) -> Checkpoint:
    """Load a run directory or `model.pt` (safely, weights only)."""
    return load_checkpoint(Path(path))


# How the training data was read, kept when the same model reads other data.
CARRIED_DATA_OPTIONS = ("label_column", "subgroups", "missing", "seed", "subgroups_as_input", "positive_class",
                        "val_fraction", "classes", "image_size", "channels", "window", "cache", "image_column",
                        "split_column", "group_column", "allow_group_overlap", "mask_column")


def input_check(checkpoint: Checkpoint, x, preprocessing: dict) -> dict[str, Any]:
    """How many cases the checkpoint's input profile flags as unlike its training data, and why."""
    import numpy as np

    _, reasons = check_cases(checkpoint.spec.input_profile, checkpoint.model, np.asarray(x), preprocessing,
                             len(checkpoint.class_names))
    flagged = [r for r in reasons if r]
    return {"flagged": len(flagged), "cases": len(reasons), "share": len(flagged) / max(len(reasons), 1),
            "first_reasons": flagged[:3]}


def load_data_for(checkpoint: Checkpoint, data: str | None = None, *, data_dir: Path | None = None,
                  subgroups: list[str] | None = None, **overrides: Any) -> Dataset:
    """Load `data`, or the data recorded in the checkpoint, with the options it was trained with.

    `subgroups` are extra metadata columns to audit; they never change the model's inputs.
    """
    source = dict(checkpoint.spec.data)
    same_data = data is None or data == source.get("data")
    if not same_data:
        source = {"data": data, **{k: v for k, v in source.items() if k in CARRIED_DATA_OPTIONS}}
    if len(checkpoint.class_names) == 2:
        # Models saved before the positive class was recorded held it at index 1.
        source.setdefault("positive_class", checkpoint.positive_class)
    source.update({k: v for k, v in overrides.items() if v is not None})
    if "data" not in source:
        raise ConfigError("the model does not record its data: pass --data")
    if subgroups:
        source["extra_meta"] = list(subgroups)
    encoding = checkpoint.spec.preprocessing.get("encoding")
    if encoding is not None:
        source["encoding"] = encoding  # a table model's columns are matched by name, never refitted
    path = source.pop("data")
    try:
        dataset = load_data(path, data_dir=data_dir, **source)
    except ConfigError as error:
        if same_data or "positive_class" not in source:
            raise
        # Other data whose classes lack the model's positive class: a file of another shape says that first.
        source.pop("positive_class")
        try:
            plain = load_data(path, data_dir=data_dir, **source)
        except MedpruneError:
            raise error from None
        check_input_shape(checkpoint, plain)
        raise
    recorded_scaling = checkpoint.spec.preprocessing
    if dataset.task != "segmentation" and dataset.modality == "image" and "scale" in recorded_scaling:
        dataset = with_scaling(dataset, recorded_scaling)  # the network's own scaling (an imported one's declared)
    recorded = checkpoint.spec.data_md5
    if same_data and recorded and dataset.checksum and recorded != dataset.checksum:
        warnings.warn(f"{dataset.name} differs from the file the model was trained on (md5 "
                      f"{dataset.checksum} vs {recorded})", stacklevel=2)
    return dataset


def evaluate_model(checkpoint: Checkpoint, dataset: Dataset, *, split: str = "test",
                   target_sensitivity: float | None = None, latency_repeats: int = 10,
                   latency_device: str = "cpu") -> dict[str, Any]:
    """Evaluate and return the JSON record (evaluation keys + data and model descriptions); latency is timed on
    `latency_device`, the CPU unless told otherwise."""
    if dataset.task == "segmentation":
        check_segmentation_model(checkpoint, dataset)
        return evaluate_segmentation(checkpoint, dataset, split=split, latency_repeats=latency_repeats,
                                     latency_device=latency_device).to_json_dict()
    return classification_record(checkpoint, dataset, split=split, target_sensitivity=target_sensitivity,
                                 latency_repeats=latency_repeats, latency_device=latency_device).to_json_dict()


def classification_record(checkpoint: Checkpoint, dataset: Dataset, *, split: str = "test",
                          target_sensitivity: float | None = None, latency_repeats: int = 10,
                          latency_device: str = "cpu") -> ClassificationMetrics:
    """The typed metrics.json of a classifier (with the input check where the checkpoint has a profile)."""
    if checkpoint.spec.task == "segmentation":
        raise DataError(f"{checkpoint.path} is a segmentation model but {dataset.name} has class labels: pass its "
                        "segmentation data (a Decathlon folder, or a manifest with --mask-column)")
    result = evaluate(checkpoint, dataset, split=split, target_sensitivity=target_sensitivity,
                      latency_repeats=latency_repeats, latency_device=latency_device)
    record = metrics_record(result, dataset, checkpoint)
    if checkpoint.spec.input_profile and dataset.modality == "image":
        record.input_check = input_check(checkpoint, dataset.split(split).x, dataset.preprocessing)
    return record


def check_run_out(out: Path, resume: bool, overwrite: bool, state_file: str = STATE_FILE) -> None:
    """Refuse a run directory that holds a run this one may not replace or continue (nothing is touched)."""
    if (out / "model.pt").exists() and not (out / state_file).exists():
        if resume:
            raise ConfigError(f"{out} holds a finished run: nothing to resume; pass --overwrite to train again")
        if not overwrite:
            raise ConfigError(f"{out} already holds a trained model: choose another --out or pass --overwrite")
    if (out / state_file).exists() and not resume and not overwrite:
        raise ConfigError(f"{out} holds an unfinished run: pass --resume to continue it or --overwrite to restart")


def prepare_out(out: Path, resume: bool, overwrite: bool, state_file: str = STATE_FILE) -> None:
    check_run_out(out, resume, overwrite, state_file)
    if overwrite and not resume and out.exists():
        for name in ("model.pt", "metrics.json", "summary.md", "train_log.jsonl", state_file):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def check_trainable(dataset: Dataset) -> None:
    """Refuse data a model cannot honestly be trained and thresholded on, before any epoch is spent."""
    import numpy as np

    train_counts = np.bincount(dataset.split("train").y, minlength=dataset.n_classes)
    empty = [dataset.class_names[k] for k in np.flatnonzero(train_counts == 0)]
    if len(empty) >= dataset.n_classes - 1:
        raise DataError(f"{dataset.name}: the training split holds a single class "
                        f"({dataset.class_names[int(np.argmax(train_counts))]}): a classifier needs cases of every class")
    if empty and not dataset.source.get("classes"):
        raise DataError(f"{dataset.name}: class '{empty[0]}' has no training cases: fix the labels, or name every "
                        "class with --classes if it is meant to be there")
    if empty:
        warnings.warn(f"class '{empty[0]}' has no training cases (named with --classes): the model never learns it",
                      stacklevel=2)
    if dataset.n_classes == 2:
        pooled = np.concatenate([dataset.split("train").y, dataset.split("val").y])
        check_threshold_data(dataset.split("val").y, pooled)


def _import_segmentation(net, dataset, name: str, kwargs: dict, weights: str | Path | None, out: Path,
                         overwrite: bool, latency_repeats: int) -> dict[str, Any]:
    """An imported segmentation network: run with sliding windows of the data's patch, evaluated per structure."""
    spec = make_spec(name, input_shape=dataset.input_shape, class_names=dataset.class_names, modality="image",
                     task="segmentation", kwargs=kwargs, preprocessing=dataset.preprocessing, data=dataset.source,
                     data_md5=dataset.checksum)
    spec.inference = Inference.for_data(dataset).to_dict()
    spec.imported = {"weights": Path(weights).name if weights else None}
    prepare_out(out, resume=False, overwrite=overwrite)
    save_checkpoint(out / "model.pt", net, spec)
    record = evaluate_segmentation(Checkpoint(net, spec, out / "model.pt"), dataset, latency_repeats=latency_repeats)
    record.imported = {"name": name, "kwargs": kwargs, "weights_sha256": sha256(Path(weights)) if weights else None}
    write_json_atomic(out / "metrics.json", record.to_json_dict())
    write_text_atomic(out / "summary.md", render_segmentation_summary(record))
    return record.to_json_dict()


def train(dataset: Dataset, model: str, config: TrainConfig, out: str | Path, *, resume: bool = False,
          overwrite: bool = False, progress: bool = True, model_kwargs: dict | None = None,
          target_sensitivity: float | None = None, latency_repeats: int = 10) -> dict[str, Any]:
    """Train `model` on `dataset` into the run directory `out` and return its metrics record.

    Raises:
        ConfigError / UnknownNameError / DataError for bad settings, names or data.
    """
    out = Path(out)
    if dataset.task == "segmentation":
        return train_segmentation(dataset, model, config, out, resume=resume, overwrite=overwrite, progress=progress,
                                  model_kwargs=model_kwargs, latency_repeats=latency_repeats,
                                  prepare_out=lambda: prepare_out(out, resume, overwrite))
    config.check()
    check_trainable(dataset)
    spec = make_spec(model, input_shape=dataset.input_shape, class_names=dataset.class_names,
                     modality=dataset.modality, task=dataset.task, kwargs=model_kwargs,
                     preprocessing=dataset.preprocessing, data=dataset.source, data_md5=dataset.checksum)
    import torch

    torch.manual_seed(config.seed)  # the initial weights are part of the seeded run
    try:
        net = create_model(model, input_shape=dataset.input_shape, n_classes=dataset.n_classes,
                           modality=dataset.modality, **(model_kwargs or {}))
    except TypeError as err:  # a keyword the architecture does not take
        raise ConfigError(f"model '{model}' cannot be built with model_kwargs {model_kwargs} ({err}): remove or "
                          "rename the unknown keyword") from None
    main = launched_rank() == 0  # under torchrun every process trains; one writes the run
    if main:
        prepare_out(out, resume, overwrite)
    result: TrainResult = fit(net, dataset, config, state_path=out / STATE_FILE, resume=resume, progress=progress)
    if not main:
        return {}
    checkpoint = Checkpoint(model=net, spec=spec, path=out / "model.pt")
    spec.threshold = validation_threshold(checkpoint, dataset, target_sensitivity)
    spec.training = {"config": config.to_dict(), "best_epoch": result.best_epoch,
                        "best_val_auroc": result.best_val_auroc}
    spec.input_profile = fit_profile(net, dataset)
    save_checkpoint(out / "model.pt", net, spec)
    record = classification_record(checkpoint, dataset, target_sensitivity=target_sensitivity,
                                   latency_repeats=latency_repeats)
    record.training = Training(config=config.to_dict(), result=TrainingOutcome.model_validate(result.to_dict()))
    written = record.to_json_dict()
    write_training_files(out, written, result.history, render_run_summary(record), STATE_FILE)
    return written



def with_scaling(dataset: Dataset, scaling: dict[str, Any]) -> Dataset:
    """`dataset` whose images are scaled as a network declares (classification images only)."""
    import dataclasses

    if dataset.task == "segmentation" or dataset.modality != "image":
        raise ConfigError("--input-range / --mean / --std scale 8-bit images of a classification task; this data "
                          f"is {'segmentation' if dataset.task == 'segmentation' else 'a table'}: leave them out")
    check_channels(scaling, dataset.input_shape[0])
    return dataclasses.replace(dataset, preprocessing={k: scaling[k] for k in ("scale", "mean", "std")})


def warn_if_scaling_mismatched(net, dataset: Dataset, gap: float = 0.05) -> None:
    """Warn when the network ranks the validation cases clearly better under another common input scaling than
    under the one recorded: its declaration (or the lack of one) is probably wrong."""
    from medprune.evaluation.evaluate import validation_auroc

    if dataset.n_classes != 2 or dataset.modality != "image":
        return
    candidates = {"[-1, 1]": MEDPRUNE_SCALING, "[0, 1]": {"scale": 1 / 255, "mean": 0.0, "std": 1.0}}
    recorded = validation_auroc(net, dataset)
    others = {name: validation_auroc(net, with_scaling(dataset, scaling)) for name, scaling in candidates.items()}
    best = max(others, key=others.get)
    if others[best] > recorded + gap:
        warnings.warn(f"the network's validation AUROC is {recorded:.3f} with its inputs scaled as recorded but "
                      f"{others[best]:.3f} with inputs in {best}: declare how it was trained (--input-range, or "
                      "--mean/--std) and import it again", stacklevel=2)


def import_model(dataset: Dataset, name: str, out: str | Path, *, kwargs: dict | None = None,
                 weights: str | Path | None = None, overwrite: bool = False, scaling: dict[str, Any] | None = None,
                 latency_repeats: int = 10) -> dict[str, Any]:
    """Bring a trained network from outside the zoo into a run directory that every verb accepts.

    `scaling` (medprune.data.input_scaling.declared_scaling) is how the network's own training scaled its 8-bit
    images; it is recorded in the checkpoint and every later verb feeds the network so (default: medprune's [-1, 1]).

    Args:
        name: `monai:NAME` (monai.networks.nets) or `factory:package.module:function` (the user's code,
            imported by name).
        kwargs: the keyword arguments that build the network.
        weights: its state_dict (`.pt` read with weights_only=True, or `.safetensors`).
    Raises:
        ConfigError / CheckpointError / DataError: a network that cannot be built, weights that do not fit,
        or a network whose input or output does not match the data.
    """
    import numpy as np
    import torch

    if not is_imported(name):
        raise ConfigError(f"'{name}' is not an imported network: use monai:NAME or factory:package.module:function")
    out = Path(out)
    kwargs = dict(kwargs or {})
    if scaling is not None:
        dataset = with_scaling(dataset, scaling)
    net = build_imported(name, kwargs)
    if weights is not None:
        load_weights(net, Path(weights))
    segmentation = dataset.task == "segmentation"
    val = dataset.split("val").x[:2]
    sample = torch.from_numpy(val) if segmentation else to_tensor(val, dataset.preprocessing)
    try:
        with torch.no_grad():
            shape = tuple(net.eval()(sample).shape)
    except Exception as err:  # the user's network on our inputs
        raise DataError(f"the network cannot take {dataset.name}'s inputs of shape {tuple(dataset.input_shape)} "
                        f"({type(err).__name__}: {str(err)[:100]}): check --kwargs (input channels) or --data") from None
    if segmentation:
        if shape != (2, dataset.n_classes, *dataset.input_shape[1:]):
            raise DataError(f"the network outputs {shape[1:]} per case but {dataset.name} needs "
                            f"{(dataset.n_classes, *dataset.input_shape[1:])}: one channel per structure "
                            f"({', '.join(dataset.class_names)}) at the input's size; build it with out_channels="
                            f"{dataset.n_classes}")
        return _import_segmentation(net, dataset, name, kwargs, weights, out, overwrite, latency_repeats)
    if shape != (2, dataset.n_classes):
        raise DataError(f"the network outputs {shape[1:] if len(shape) > 1 else shape} per case but {dataset.name} has "
                        f"{dataset.n_classes} classes: build it with {dataset.n_classes} outputs")
    check_trainable(dataset)
    spec = make_spec(name, input_shape=dataset.input_shape, class_names=dataset.class_names,
                     modality=dataset.modality, task=dataset.task, kwargs=kwargs,
                     preprocessing=dataset.preprocessing, data=dataset.source, data_md5=dataset.checksum)
    prepare_out(out, resume=False, overwrite=overwrite)
    checkpoint = Checkpoint(model=net, spec=spec, path=out / "model.pt")
    spec.threshold = validation_threshold(checkpoint, dataset)
    spec.imported = {"weights": Path(weights).name if weights else None,
                     "input_scaling": scaling.get("declared") if scaling else "not declared: medprune's [-1, 1]"}
    spec.input_profile = fit_profile(net, dataset)
    save_checkpoint(out / "model.pt", net, spec)
    warn_if_scaling_mismatched(net, dataset)
    record = classification_record(checkpoint, dataset, latency_repeats=latency_repeats)
    record.imported = {"name": name, "kwargs": kwargs, "weights_sha256": sha256(Path(weights)) if weights else None,
                       "params": int(np.sum([p.numel() for p in net.parameters()]))}
    written = record.to_json_dict()
    write_json_atomic(out / "metrics.json", written)
    write_text_atomic(out / "summary.md", render_run_summary(record))
    return written
