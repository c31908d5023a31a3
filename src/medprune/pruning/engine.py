"""The one pruning engine: the schedule loop (oneshot, iterative, until-tolerance), its checks and its records.

`medprune.prune` (any network in memory), the run-directory `prune` verb and a recipe's prune step (and the
techniques that prune after training) all prune through `Pruner.run`; they differ only in the hooks they give
it (how to fine-tune between steps, how to score the validation split, where to save progress).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from medprune.training.batchnorm import recalibrate_batchnorm
from medprune.errors import ConfigError
from medprune.pruning.criterion import CRITERIA, CalibrationData, Criterion
from medprune.pruning.groups import output_shape
from medprune.pruning.settings import PruneSettings
from medprune.pruning.step import prune_step
from medprune.pruning.structured import DenseFigures, channel_widths, cost_ratio
from medprune.pruning.target import Target
from medprune.pruning.unstructured import copy_model, make_permanent, zero_fraction

# A result further than this from the target (either side) is reported: the channel rounding or the per-layer
# floor moved it, and the user should know before fine-tuning.
TARGET_WARNING_DISTANCE = 0.05
MAX_TOLERANCE_STEPS = 30

Record = dict[str, Any]


@dataclass
class Pruner:
    """Prunes a model per `settings`, step by step, calling the hooks it was given.

    after_step(model, last): fine-tunes the model in place after a step (`last`: after the final one).
    validate(model): the validation score (AUROC; mean Dice for segmentation, with score_name "Dice"), recorded
    per step and needed by until-tolerance.
    save(model, steps): keeps progress after each finished step (resume).
    log(message) / warn(message): what each step did / a target missed by far.
    """

    settings: PruneSettings
    dense_model: nn.Module
    data: CalibrationData
    bn_inputs: list[torch.Tensor] = field(default_factory=list)
    kept_layer_names: set[str] = field(default_factory=set)
    after_step: Callable[[nn.Module, bool], None] | None = None
    validate: Callable[[nn.Module], float] | None = None
    save: Callable[[nn.Module, list[Record]], None] | None = None
    log: Callable[[str], None] = lambda _: None
    warn: Callable[[str], None] | None = None  # a target missed by far (default: log it)
    score_name: str = "AUROC"

    def __post_init__(self) -> None:
        self.target, self.schedule = self.settings.check()
        self.criterion: Criterion = CRITERIA.get(self.settings.criterion)()
        if self.criterion.needs_data and not self.data.batches:
            raise ConfigError(f"criterion {self.settings.criterion} scores weights with gradients: pass "
                              "calibration=[(inputs, labels), ...] (a few training batches), or use a data-free "
                              "criterion such as magnitude")
        if self.schedule.kind == "until-tolerance" and self.validate is None:
            raise ConfigError("schedule until-tolerance needs validation data: give validate= (a function returning "
                              "the validation AUROC), or use oneshot or iterative:K")
        shape = self.data.input_shape
        self.n_classes = output_shape(self.dense_model.eval(), torch.zeros(1, *shape))[1]  # (N, K) or (N, K, *S)
        self.score_key = f"val_{self.score_name.lower()}"
        self.dense = DenseFigures.measure(self.dense_model, shape, with_latency=self.target.kind == "latency")

    def run(self, model: nn.Module, done: list[Record] | None = None) -> tuple[nn.Module, list[Record]]:
        """Prune `model` (a copy of the dense model, or the model saved after the `done` steps) to the target;
        returns the pruned model (masks folded in) and one record per step."""
        steps, began = list(done or []), time.perf_counter()
        if self.schedule.kind == "until-tolerance":
            model = self._until_tolerance(model, steps, began)
        else:
            for step in range(len(steps) + 1, self.schedule.steps + 1):
                last, step_target = step == self.schedule.steps, self.schedule.target_at(self.target, step)
                model = self._step(model, step_target, last)
                steps.append(self._record(model, step, step_target, began)[0])
                if self.save is not None and not last:
                    self.save(model, steps)
        make_permanent(model)
        return model, steps

    def _until_tolerance(self, model: nn.Module, steps: list[Record], began: float) -> nn.Module:
        """Prune a share of what remains per step until validation AUROC falls more than the tolerance below
        the dense model's (that step is rolled back) or the target, the smallest model allowed, is reached."""
        s, target = self.settings, self.target
        floor = self.validate(self.dense_model) - s.tolerance
        kept = steps[-1]["kept"] if steps else 1.0
        for step in range(len(steps) + 1, MAX_TOLERANCE_STEPS + 1):
            kept *= 1 - s.step_fraction
            step_target = Target(target.kind, 1 - kept if target.kind == "sparsity" else kept)
            beyond = step_target.value > target.value if target.kind == "sparsity" else step_target.value < target.value
            if beyond:
                break  # the --target is the smallest model allowed
            before = copy_model(model)
            model = self._step(model, step_target, last=False)
            record, score = self._record(model, step, step_target, began)
            record |= {"kept": kept}
            if score < floor:
                self.log(f"step {step} fell below validation {self.score_name} {floor:.4f}: rolled back to step "
                         f"{step - 1}")
                steps.append(record | {"rolled_back": True})
                model = before
                break
            steps.append(record)
            if self.save is not None:
                self.save(model, steps)
        if self.after_step is not None:
            self.after_step(model, True)
        return model

    def _step(self, model: nn.Module, target: Target, last: bool) -> nn.Module:
        s = self.settings
        keep = [m for name, m in model.named_modules() if name in self.kept_layer_names]
        model, reached = prune_step(model, self.criterion, self.data, target, dense=self.dense,
                                    n_classes=self.n_classes, structured=s.structured, scope=s.scope,
                                    max_layer_ratio=s.layer_cap, round_to=s.round_to, pattern=s.pattern,
                                    ignored_layers=keep)
        if abs(reached - target.value) > TARGET_WARNING_DISTANCE and not s.pattern:
            (self.warn or self.log)(
                f"target {target} reached {reached:.3f}: the per-layer floor (max layer ratio {s.layer_cap}) or "
                f"rounding to multiples of {s.round_to} channels kept it from landing within "
                f"{TARGET_WARNING_DISTANCE}; try round_to=1 or a higher max layer ratio")
        if self.bn_inputs:  # adaptive BatchNorm: statistics of the pruned model's own activations
            recalibrate_batchnorm(model, self.bn_inputs)
        if self.after_step is not None:
            self.after_step(model, last)
        model.eval()
        return model

    def _record(self, model: nn.Module, step: int, target: Target, began: float) -> tuple[Record, float | None]:
        """The step's record, and its validation score when a validation function was given."""
        achieved = {k: v for k, v in self.achieved(model).items() if k != "layers"}
        score = self.validate(model) if self.validate is not None else None
        said = f"step {step}: target {target}, MACs {achieved['macs_ratio']:.3f}, params " \
               f"{achieved['params_ratio']:.3f}, sparsity {achieved['sparsity']:.3f}"
        if score is not None:
            said += f", val {self.score_name} {score:.4f}"
        self.log(said)
        scored = {self.score_key: score} if score is not None else {}
        return {"step": step, "target": str(target), **achieved, **scored,
                "wall_time_s": time.perf_counter() - began}, score

    def achieved(self, model: nn.Module) -> Record:
        """Zero fraction, MACs and parameter ratios against the dense model (and latency for a latency target),
        and per layer the channels kept or the share of weights zeroed."""
        shape = self.data.input_shape
        sparsity, per_layer = zero_fraction(model)
        out: Record = {"sparsity": sparsity, "macs_ratio": cost_ratio(model, shape, "macs", self.dense),
                       "params_ratio": cost_ratio(model, shape, "params", self.dense)}
        if self.target.kind == "latency":
            out["latency_ratio"] = cost_ratio(model, shape, "latency", self.dense)
        if self.settings.structured:
            out["layers"] = {name: {"kept": w, "dense": self.dense.widths[name]}
                             for name, w in channel_widths(model).items() if name in self.dense.widths}
        else:
            out["layers"] = {name: {"sparsity": v} for name, v in per_layer.items()}
        return out
