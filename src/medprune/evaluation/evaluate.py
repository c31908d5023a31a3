"""Evaluate a model on a split: clinical metrics at a validation-chosen threshold, plus efficiency."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import ConfigDict

from medprune.records.metrics import ClassificationFigures, ClassificationMetrics
from medprune.data.dataset import Dataset
from medprune.errors import ConfigError, DataError
from medprune.evaluation.given_predictions import as_probabilities, check_labels_and_classes, check_threshold
from medprune.evaluation.calibration import compute_brier, compute_ece
from medprune.evaluation.efficiency import Efficiency, measure_efficiency
from medprune.evaluation.metrics import (choose_threshold, compute_auprc, compute_auroc,
                                         compute_balanced_accuracy, compute_confusion_rates,
                                         compute_per_class_rates)
from medprune.evaluation.predict import check_finite, positive_or_all, predict_proba
from medprune.models.checkpoint import Checkpoint


class Evaluation(ClassificationFigures):
    """Metrics of one model on one split (the figures of metrics.json). `threshold` is None for multi-class
    (argmax decision)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    efficiency: Efficiency | None = None  # measured, not read back: the object, written by to_dict

    def to_dict(self) -> dict[str, Any]:
        out = self.model_dump(exclude={"schema_version", "efficiency", "positive_class"})
        out["efficiency"] = self.efficiency.to_dict() if self.efficiency else None
        out["positive_class"] = self.class_names[1] if len(self.class_names) == 2 else None
        return out


def check_input_shape(checkpoint: Checkpoint, dataset: Dataset) -> None:
    """Refuse data whose inputs have another shape than the model takes (said before anything about classes)."""
    model_dims, data_dims = len(checkpoint.input_shape) - 1, len(dataset.input_shape) - 1
    if dataset.modality == "image" and model_dims != data_dims and min(model_dims, data_dims) >= 2:
        kind = {2: "2D images", 3: "3D volumes"}
        raise DataError(f"model '{checkpoint.name}' takes {kind[model_dims]} {tuple(checkpoint.input_shape)} but "
                        f"{dataset.name} holds {kind[data_dims]} {tuple(dataset.input_shape)}: use a "
                        f"{'3D' if data_dims == 3 else '2D'} model for this data")
    if tuple(checkpoint.input_shape) != tuple(dataset.input_shape):
        raise DataError(
            f"model '{checkpoint.name}' expects inputs of shape {tuple(checkpoint.input_shape)} but "
            f"{dataset.name} has {tuple(dataset.input_shape)}: evaluate on the data the model was trained on"
        )


def check_model_matches_data(checkpoint: Checkpoint, dataset: Dataset) -> None:
    """Refuse to score a model on data of another shape or class count."""
    check_input_shape(checkpoint, dataset)
    if len(checkpoint.class_names) != dataset.n_classes:
        raise DataError(f"model '{checkpoint.name}' predicts {len(checkpoint.class_names)} classes but "
                        f"{dataset.name} has {dataset.n_classes}: evaluate on the data the model was trained on")
    if list(checkpoint.class_names) != list(dataset.class_names):
        raise DataError(f"model '{checkpoint.name}' predicts the classes {checkpoint.class_names} (in this order) but "
                        f"{dataset.name} has {list(dataset.class_names)}: evaluate on the data the model was trained "
                        "on, with the same --positive-class")


def validation_threshold(checkpoint: Checkpoint, dataset: Dataset, target_sensitivity: float | None = None) -> float | None:
    """The binary decision threshold chosen on the validation split (None for multi-class)."""
    if dataset.n_classes != 2:
        return None
    val = dataset.split("val")
    scores = positive_or_all(check_finite(predict_proba(checkpoint.model, val, dataset.preprocessing), checkpoint.name))
    return choose_threshold(val.y, scores, target_sensitivity=target_sensitivity)


def validation_auroc(model, dataset: Dataset) -> float:
    """AUROC (macro one-vs-rest for multi-class) of a model on the validation split."""
    val = dataset.split("val")
    return compute_auroc(val.y, positive_or_all(predict_proba(model, val, dataset.preprocessing)))


def compute_classification_metrics(y_true: np.ndarray, probs: np.ndarray, threshold: float | None) -> dict[str, Any]:
    """Every clinical metric of one set of predictions (binary: at `threshold` on P(positive))."""
    scores = positive_or_all(probs)
    n_classes = probs.shape[1]
    out: dict[str, Any] = {"n": int(len(y_true)), "auroc": compute_auroc(y_true, scores),
                           "auprc": compute_auprc(y_true, scores),
                           "ece": compute_ece(y_true, scores), "brier": compute_brier(y_true, scores)}
    if n_classes == 2:
        y_pred = (scores >= threshold).astype(int)
        rates = compute_confusion_rates(y_true, y_pred)
        out.update({k: rates[k] for k in ("sensitivity", "specificity", "ppv", "npv")})
        out["confusion"] = {k: rates[k] for k in ("tp", "tn", "fp", "fn")}
        out["per_class"] = []
    else:
        y_pred = probs.argmax(axis=1)
        per_class = compute_per_class_rates(y_true, y_pred, n_classes)
        for key in ("sensitivity", "specificity", "ppv", "npv"):
            out[key] = float(np.nanmean([r[key] for r in per_class]))
        out["per_class"] = [{**r, "auroc": compute_auroc(y_true == k, probs[:, k])} for k, r in enumerate(per_class)]
        out["confusion"] = {}
    out["accuracy"] = float(np.mean(y_pred == y_true))
    out["balanced_accuracy"] = compute_balanced_accuracy(y_true, y_pred)
    return out


def evaluate(checkpoint: Checkpoint, dataset: Dataset, *, split: str = "test",
             target_sensitivity: float | None = None, threshold: float | None = None,
             with_efficiency: bool = True, latency_repeats: int = 10, latency_device: str = "cpu") -> Evaluation:
    """Score a model on `split`; the binary threshold is chosen on the validation split.

    Args:
        threshold: use this threshold instead of choosing one (e.g. a reference model's).
        latency_device: where latency is timed (the CPU, the deployment target, by default).
        target_sensitivity: choose the threshold reaching this validation sensitivity
            (default: Youden's J).
    Raises:
        DataError: the model does not fit the data, or the split does not exist.
    """
    if with_efficiency and latency_repeats < 1:
        raise ConfigError(f"latency repeats must be at least 1, got {latency_repeats}: 10 gives a stable median")
    check_model_matches_data(checkpoint, dataset)
    pre = dataset.preprocessing
    test = dataset.split(split)
    probs = check_finite(predict_proba(checkpoint.model, test, pre), checkpoint.name)
    method = "argmax"
    if dataset.n_classes == 2:
        if threshold is not None:
            method = "given"
        else:
            threshold = validation_threshold(checkpoint, dataset, target_sensitivity)
            method = "youden (val)" if target_sensitivity is None else f"sensitivity>={target_sensitivity} (val)"
    else:
        threshold = None
    metrics = compute_classification_metrics(test.y, probs, threshold)
    efficiency = None
    if with_efficiency:
        efficiency = measure_efficiency(checkpoint.model, tuple(dataset.input_shape), path=checkpoint.path,
                                        repeats=latency_repeats, latency_device=latency_device)
    return Evaluation(split=split, task=dataset.task, threshold=threshold, threshold_method=method,
                      class_names=list(dataset.class_names), efficiency=efficiency, **metrics)


def metrics_record(evaluation: Evaluation, dataset: Dataset, checkpoint: Checkpoint) -> ClassificationMetrics:
    """The metrics.json of a run directory: the evaluation, and the data and model it describes."""
    return ClassificationMetrics.model_validate({**evaluation.to_dict(), "data": dataset.describe(),
                                                 "model": checkpoint.spec.model.model_dump()})


def evaluate_predictions(y_true: np.ndarray, y_prob: np.ndarray, *, threshold: float | None = None,
                         positive_class: str | int | None = None, class_names: list[str] | None = None) -> Evaluation:
    """Every clinical metric of predictions from the user's own pipeline.

    Args:
        y_true: (N,) class indices.
        y_prob: (N,) probability of label 1, or (N, K) class probabilities.
        threshold: binary tasks: the decision threshold on P(positive), chosen on validation data.
        positive_class: binary tasks: the disease class (a name from `class_names`, or 0 / 1).
        class_names: names of the classes by index (default "0", "1", ...).
    Raises:
        DataError / ConfigError: shapes, labels, probabilities or settings that do not fit.
    """
    probs = as_probabilities(y_prob, len(np.asarray(y_true)), "y_prob")
    checked = check_labels_and_classes(y_true, probs.shape[1], class_names, positive_class)
    threshold = check_threshold(threshold, probs.shape[1])
    metrics = compute_classification_metrics(checked.y_true, checked.probs(probs), threshold)
    return Evaluation(split="given", task="binary" if probs.shape[1] == 2 else "multiclass", threshold=threshold,
                      threshold_method="given" if threshold is not None else "argmax",
                      class_names=checked.class_names, efficiency=None, **metrics)
