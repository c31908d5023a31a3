"""Score one candidate: repair it into the budget, build it, recalibrate BatchNorm, measure on validation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medprune.data.batches import to_tensor
from medprune.data.dataset import Dataset
from medprune.errors import ConfigError
from medprune.evaluation.evaluate import check_model_matches_data, validation_threshold
from medprune.evaluation.operating_point import check_operating_margin
from medprune.models.checkpoint import Checkpoint, load_checkpoint
from medprune.pruning.criterion import CRITERIA, CalibrationData
from medprune.pruning.target import Target
from medprune.runs import load_data_for
from medprune.segmentation import check_segmentation_model
from medprune.training.segmentation import Inference, validation_dice
from medprune.search.latency import RUNTIMES, LatencyTable
from medprune.training.batchnorm import recalibrate_batchnorm
from medprune.search.scoring import Objective, Requirement, validation_figures
from medprune.search.space import SearchSpace
from medprune.hardware.device import resolve_device


def load_inputs(config) -> tuple[Checkpoint, Dataset]:
    dense = load_checkpoint(Path(config.model))
    dataset = load_data_for(dense, config.data, data_dir=Path(config.data_dir) if config.data_dir else None)
    if dataset.task == "segmentation" or dense.spec.task == "segmentation":
        check_segmentation_model(dense, dataset)
    else:
        check_model_matches_data(dense, dataset)
    return dense, dataset


def _segmentation_objective(config) -> Objective:
    """Segmentation trials are scored by validation mean Dice; a classifier's objectives and rates do not apply."""
    if config.objective not in ("auroc", "dice"):  # auroc: the default, left as it was
        raise ConfigError(f"--objective {config.objective} scores a classifier: a segmentation search is scored by "
                          "validation mean Dice (--objective dice)")
    if config.require:
        raise ConfigError("--require names a classifier's rates at its threshold: a segmentation search has none; "
                          "drop --require (the candidate is judged per structure by medprune validate)")
    return Objective("dice")


def operating_point_guard(dense: torch.nn.Module, val_x: torch.Tensor, val_y: np.ndarray, threshold: float,
                          objective: Objective, margin: float) -> list[Requirement]:
    """By default no trial may lose more than `margin` of the dense model's validation sensitivity or
    specificity at the reference threshold: a smaller model used at the same threshold must still find
    the disease (the co-primary endpoints `validate` judges later)."""
    check_operating_margin(margin, "--operating-margin")
    dense_figures = validation_figures(dense, val_x, val_y, threshold, objective)
    return [Requirement(metric, ">=", round(dense_figures[metric] - margin, 6)) for metric in ("sensitivity",
                                                                                               "specificity")
            if dense_figures[metric] - margin > 0]


@dataclass
class Evaluator:
    dense: Checkpoint
    dataset: Dataset
    space: SearchSpace
    target: Target
    cost: Callable[[list[float]], float]
    latency: LatencyTable | None
    bn_batches: list[torch.Tensor]
    val_x: torch.Tensor
    val_y: np.ndarray
    threshold: float | None
    objective: Objective
    requirements: list[Requirement]
    inference: Inference | None = None  # segmentation: sliding windows as the dense model runs them

    @property
    def segmentation(self) -> bool:
        return self.inference is not None

    @classmethod
    def build(cls, config) -> Evaluator:
        """Everything a trial needs, derived from the config alone (so every worker builds the same)."""
        objective = Objective.parse(config.objective)
        requirements = [Requirement.parse(r) for r in config.require]
        target = Target.parse(config.target)
        if target.kind not in ("macs", "latency"):
            raise ConfigError(f"search targets macs= or latency= (a share of the dense model), got {target}")
        if config.runtime not in RUNTIMES:
            raise ConfigError(f"--runtime must be one of {', '.join(RUNTIMES)}, got '{config.runtime}'")
        if config.runtime != "torch" and target.kind != "latency":
            raise ConfigError(f"--runtime {config.runtime} names where latency is measured: use it with "
                              "--target latency=X")
        criterion = CRITERIA.get(config.criterion)()
        dense, dataset = load_inputs(config)
        binary = dataset.n_classes == 2 and dataset.task != "segmentation"
        if dataset.task == "segmentation":
            objective, requirements = _segmentation_objective(config), []
        elif objective.kind == "dice":
            raise ConfigError("--objective dice scores a segmentation model: use auroc or sens@spec=0.9")
        elif objective.kind != "auroc" and not binary:
            raise ConfigError("sens@spec needs a binary task: use --objective auroc")
        if not binary and any(r.metric != "auroc" for r in requirements):
            raise ConfigError("sensitivity / specificity requirements need a binary task: require auroc>=X instead")
        torch.manual_seed(config.seed)
        data = CalibrationData.from_dataset(dataset, config.calibration_batches, config.batch_size, config.seed)
        space = SearchSpace(dense.model, criterion, data, dataset.n_classes, config.max_layer_ratio, config.round_to)
        latency = None
        cost = space.macs_ratio
        if target.kind == "latency":
            latency = LatencyTable(space, Path(config.latency_table) if config.latency_table else None,
                                   config.runtime)
            cost = latency.ratio
        smallest = cost(space.floors)
        if smallest > target.value:
            raise ConfigError(f"no candidate can meet --target {target}: with every layer at its floor (max layer "
                              f"ratio {config.max_layer_ratio}) the model keeps {smallest:.3f}; raise the target or "
                              "the --max-layer-ratio")
        if dataset.task == "segmentation":
            bn = CalibrationData.from_dataset(dataset, config.bn_batches, config.batch_size, config.seed + 1)
            return cls(dense, dataset, space, target, cost, latency, [x for x, _ in bn], torch.empty(0),
                       np.empty(0), None, objective, [], Inference.recorded(dense.spec.inference, dense.input_shape))
        train = dataset.split("train")
        order = np.random.default_rng(config.seed).permutation(len(train))[: config.bn_batches * config.batch_size]
        bn_batches = [to_tensor(train.x[idx], dataset.preprocessing)
                      for idx in np.array_split(order, max(1, len(order) // config.batch_size))]
        val = dataset.split("val")
        threshold = dense.threshold if dense.threshold is not None else validation_threshold(dense, dataset)
        val_x = to_tensor(val.x, dataset.preprocessing)
        if binary:
            requirements += operating_point_guard(dense.model, val_x, val.y, threshold, objective,
                                                  config.operating_margin)
        return cls(dense, dataset, space, target, cost, latency, bn_batches, val_x,
                   val.y, threshold if binary else None, objective, requirements)

    def fit(self, keep: list[float], policy: str) -> list[float] | None:
        """The candidate within budget: repaired (every group's removable share scaled) or rejected (None)."""
        keep = self.space.clip(keep)
        if policy == "reject":
            return keep if self.cost(keep) <= self.target.value else None
        return self.space.repair(keep, self.cost, self.target.value)

    def score(self, keep: list[float]) -> dict[str, Any]:
        # A trial scores on this worker's accelerator when it has one (a Ray task given --gpus-per-trial sees its
        # own GPU; one given none sees none): adaptive BatchNorm and validation only, so CPU and GPU agree closely.
        model = self.space.materialize(keep).to(resolve_device("auto"))
        return self.validation(recalibrate_batchnorm(model, self.bn_batches))

    def validation(self, model: torch.nn.Module) -> dict[str, Any]:
        """The objective on the validation split (mean Dice for segmentation), with the rates at the threshold."""
        if self.segmentation:
            return {"objective": validation_dice(model, self.dataset, self.inference)}
        return validation_figures(model, self.val_x, self.val_y, self.threshold, self.objective)

    def evaluate(self, keep: list[float], policy: str = "repair") -> dict[str, Any]:
        fitted = self.fit(keep, policy)
        if fitted is None:
            return {"rejected": True, "proposed": list(keep), "keep": self.space.clip(keep),
                    "cost_ratio": self.cost(self.space.clip(keep))}
        figures = self.score(fitted)
        return {"rejected": False, "proposed": list(keep), "keep": fitted,
                "repaired": bool(np.abs(np.asarray(fitted) - np.asarray(self.space.clip(keep))).max() > 1e-9),
                "macs_ratio": self.space.macs_ratio(fitted), "cost_ratio": self.cost(fitted),
                "feasible": all(r.met(figures) for r in self.requirements), "objective": figures["objective"],
                "validation": figures}
