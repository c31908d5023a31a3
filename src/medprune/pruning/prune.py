"""The `prune` verb: score, remove (channels or weights), fine-tune, repeat per the schedule."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from medprune.batchnorm import recalibrate_batchnorm
from medprune.data.dataset import Dataset
from medprune.errors import ConfigError
from medprune.evaluation.evaluate import validation_auroc
from medprune.evaluation.operating_point import OperatingPointGuard, check_operating_margin
from medprune.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from medprune.pruning.criterion import CRITERIA, CalibrationData, Criterion
from medprune.pruning.any_model import TARGET_WARNING_DISTANCE, achieved_figures
from medprune.pruning.step import prune_step
from medprune.pruning.structured import DenseFigures, check_round_to, cost_ratio
from medprune.pruning.target import Schedule, Target
from medprune.pruning.unstructured import apply_masks, copy_model, make_permanent, parse_pattern, prunable_layers
from medprune.training import Distillation, TrainConfig, fit

NO_SPEEDUP_NOTE = ("Unstructured sparsity (weight masks) makes the file smaller but gives no CPU speed-up: "
                   "PyTorch and ONNX Runtime still run dense kernels over the zeros.")


@dataclass(frozen=True)
class PruneSettings:
    """Everything that defines a pruning run (recorded in metrics.json)."""

    criterion: str = "taylor"
    structured: bool = False
    target: str = "sparsity=0.5"
    schedule: str = "oneshot"
    scope: str = "global"  # global ranking, or the same ratio in every layer ("layer")
    # No layer loses more than this fraction of its channels (structured, default 0.9) or weights
    # (unstructured, default 0.98: a cap at the target sparsity itself would force uniform pruning).
    max_layer_ratio: float | None = None
    pattern: str | None = None  # N:M, e.g. "2:4" (unstructured only)
    round_to: int = 8  # structured: kept widths are multiples of this (the CPU's vector lanes)
    bn_batches: int = 8  # training batches that re-estimate BatchNorm statistics after each step (0: off)
    calibration_batches: int = 4
    calibration_batch_size: int = 64
    finetune_epochs: int | None = None  # after the last step; None: the fine-tuning step budget
    step_epochs: int = 1  # after each earlier step
    lr: float = 5e-4
    batch_size: int = 128
    distill: bool = False
    temperature: float = 4.0
    distill_weight: float = 0.5
    augment: str = "auto"  # fine-tuning augmentation (see medprune.augmentation)
    # Fine-tuning keeps the best validation AUROC among the epochs whose validation sensitivity and specificity at
    # the reference threshold stay within this of the reference's (the guard `search` applies); 1: AUROC alone.
    operating_margin: float = 0.05
    tolerance: float = 0.01  # until-tolerance: largest allowed drop in validation AUROC
    step_fraction: float = 0.2  # until-tolerance: share of the remaining cost removed per step
    seed: int = 0

    def check(self) -> tuple[Target, Schedule]:
        CRITERIA.get(self.criterion)
        target, schedule = Target.parse(self.target), Schedule.parse(self.schedule)
        if self.scope not in ("global", "layer"):
            raise ConfigError(f"scope must be global or layer, got '{self.scope}'")
        if not 0 < self.layer_cap < 1:
            raise ConfigError(f"max layer ratio must be in (0, 1), got {self.max_layer_ratio}: try 0.9")
        if self.structured and self.pattern:
            raise ConfigError("an N:M pattern zeroes weights: drop --structured to use --pattern")
        if not self.structured and target.kind != "sparsity" and not self.pattern:
            raise ConfigError(f"target {target} needs --structured: weight masks do not reduce MACs or CPU latency; "
                              "use --target sparsity=... for unstructured pruning")
        if self.pattern:
            parse_pattern(self.pattern)
        check_round_to(self.round_to)
        TrainConfig(augment=self.augment).check()
        if self.bn_batches < 0:
            raise ConfigError(f"BatchNorm batches must be >= 0, got {self.bn_batches}: 8 is the default, 0 turns "
                              "the re-estimation off")
        if self.calibration_batches < 1:
            raise ConfigError(f"calibration batches must be >= 1, got {self.calibration_batches}")
        if (self.finetune_epochs or 0) < 0 or self.step_epochs < 0:
            raise ConfigError("fine-tuning epochs must be >= 0")
        check_operating_margin(self.operating_margin)
        if not 0 < self.tolerance < 1 or not 0 < self.step_fraction < 1:
            raise ConfigError(f"tolerance and step fraction must be in (0, 1), got {self.tolerance} and "
                              f"{self.step_fraction}")
        return target, schedule

    @property
    def layer_cap(self) -> float:
        if self.max_layer_ratio is not None:
            return self.max_layer_ratio
        return 0.9 if self.structured else 0.98

    @property
    def granularity(self) -> str:
        return "structured" if self.structured else ("n:m" if self.pattern else "unstructured")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PruningRun:
    """A model being pruned: one method to shrink it, one to fine-tune it, one to measure it."""

    def __init__(self, model: nn.Module, dense: Checkpoint, dataset: Dataset, settings: PruneSettings,
                 log: Callable[[str], None], progress: bool, teacher: nn.Module | None = None) -> None:
        self.model, self.dense, self.dataset, self.settings, self.log, self.progress = (
            model, dense, dataset, settings, log, progress)
        self.teacher = teacher if teacher is not None else dense.model  # for --distill
        self.criterion: Criterion = CRITERIA.get(settings.criterion)()
        self.data = CalibrationData.from_dataset(dataset, settings.calibration_batches,
                                                 settings.calibration_batch_size, settings.seed)
        self.input_shape = tuple(dataset.input_shape)
        bn = CalibrationData.from_dataset(dataset, settings.bn_batches, settings.calibration_batch_size,
                                          settings.seed + 1) if settings.bn_batches else []
        self.bn_inputs = [x for x, _ in bn]  # drawn once, used after every step
        kind = Target.parse(settings.target).kind
        self.figures = DenseFigures.measure(dense.model, self.input_shape, with_latency=kind == "latency")

    def shrink(self, target: Target) -> None:
        self._remove(target)
        if self.bn_inputs:  # adaptive BatchNorm: statistics of the pruned model's own activations
            recalibrate_batchnorm(self.model, self.bn_inputs)

    def _remove(self, target: Target) -> None:
        s = self.settings
        self.model, reached = prune_step(self.model, self.criterion, self.data, target, dense=self.figures,
                                         n_classes=self.dataset.n_classes, structured=s.structured, scope=s.scope,
                                         max_layer_ratio=s.layer_cap, round_to=s.round_to, pattern=s.pattern)
        if s.structured and abs(reached - target.value) > TARGET_WARNING_DISTANCE:
            self.log(f"target {target} reached {reached:.3f}: the per-layer floor (max layer ratio {s.layer_cap}) "
                     f"or rounding kept channels to multiples of {s.round_to} moved it")

    def finetune(self, epochs: int | None) -> None:
        if epochs == 0:
            return
        s = self.settings
        config = TrainConfig(epochs=epochs, budget="finetuning", lr=s.lr, batch_size=s.batch_size, seed=s.seed,
                             augment=s.augment)
        distill = Distillation(self.teacher, s.temperature, s.distill_weight) if s.distill else None
        guard = OperatingPointGuard.of(self.teacher, self.dataset, self.dense.threshold, s.operating_margin)
        result = fit(self.model, self.dataset, config, progress=self.progress, distill=distill, keep_start=True,
                     selection_score=guard.score if guard else None)
        self.log(result.said(guard.said() if guard else ""))

    def val_auroc(self, model: nn.Module | None = None) -> float:
        return validation_auroc(model or self.model, self.dataset)

    def achieved(self) -> dict[str, Any]:
        out = achieved_figures(self.model, self.input_shape, self.figures, self.settings.structured)
        if Target.parse(self.settings.target).kind == "latency":
            out["latency_ratio"] = cost_ratio(self.model, self.input_shape, "latency", self.figures)
        return out

    def step_record(self, step: int, target: Target, began: float) -> dict[str, Any]:
        achieved = {k: v for k, v in self.achieved().items() if k != "layers"}
        record = {"step": step, "target": str(target), **achieved, "val_auroc": self.val_auroc(),
                  "wall_time_s": time.perf_counter() - began}
        self.log(f"step {step}: target {target}, MACs {achieved['macs_ratio']:.3f}, params "
                 f"{achieved['params_ratio']:.3f}, sparsity {achieved['sparsity']:.3f}, val AUROC {record['val_auroc']:.4f}")
        return record


def _save_progress(path: Path, model: nn.Module, spec: dict, steps: list[dict]) -> None:
    snapshot = copy_model(model)
    make_permanent(snapshot)
    save_checkpoint(path, snapshot, dict(spec, prune_progress={"steps": steps}))


def _restore_progress(path: Path, run: PruningRun) -> list[dict]:
    saved = load_checkpoint(path)
    run.model = saved.model
    if not run.settings.structured:  # masks are the zeros: keep them fixed while fine-tuning
        apply_masks({m: m.weight.detach() != 0 for m in prunable_layers(run.model)})
    return list(saved.spec.get("prune_progress", {}).get("steps", []))


def run_schedule(run: PruningRun, state_path: Path | None, resume: bool) -> list[dict[str, Any]]:
    """Prune per the schedule, fine-tuning after every step; returns one record per step."""
    target, schedule = run.settings.check()
    steps: list[dict[str, Any]] = []
    if resume and state_path is not None and state_path.is_file():
        steps = _restore_progress(state_path, run)
        run.log(f"resuming after step {len(steps)}")
    began = time.perf_counter()
    spec = dict(run.dense.spec)

    if schedule.kind == "until-tolerance":
        floor = run.val_auroc(run.dense.model) - run.settings.tolerance
        kept = 1.0 if not steps else steps[-1]["kept"]
        for step in range(len(steps) + 1, 31):
            kept *= 1 - run.settings.step_fraction
            step_target = Target(target.kind, 1 - kept) if target.kind == "sparsity" else Target(target.kind, kept)
            if (target.kind == "sparsity" and step_target.value > target.value) or \
                    (target.kind != "sparsity" and step_target.value < target.value):
                break  # the --target is the smallest model allowed
            before = copy_model(run.model)
            run.shrink(step_target)
            run.finetune(run.settings.step_epochs)
            record = run.step_record(step, step_target, began) | {"kept": kept}
            if record["val_auroc"] < floor:
                run.model = before
                run.log(f"step {step} fell below validation AUROC {floor:.4f}: rolled back to step {step - 1}")
                record["rolled_back"] = True
                steps.append(record)
                break
            steps.append(record)
            if state_path is not None:
                _save_progress(state_path, run.model, spec, steps)
        run.finetune(run.settings.finetune_epochs)
        return steps

    for step in range(len(steps) + 1, schedule.steps + 1):
        step_target = schedule.target_at(target, step)
        run.shrink(step_target)
        last = step == schedule.steps
        run.finetune(run.settings.finetune_epochs if last else run.settings.step_epochs)
        steps.append(run.step_record(step, step_target, began))
        if state_path is not None and not last:
            _save_progress(state_path, run.model, spec, steps)
    return steps
