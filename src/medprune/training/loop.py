"""Train or fine-tune a classifier: model selection on validation AUROC, resumable every epoch."""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from medprune.training import augmentation
from medprune._atomic import write_atomic
from medprune.training.batchnorm import recalibrate_batchnorm
from medprune.training.budget import BUDGETS, earliest_stop, patience
from medprune.data.batches import read_batches, to_tensor
from medprune.data.corruptions import corrupt_randomly, kind_of
from medprune.data.dataset import Dataset
from medprune.errors import CheckpointError, ConfigError
from medprune.hardware.device import describe_device, device_of, resolve_device, to_device
from medprune.hardware.distributed import world
from medprune.hardware.options import AcceleratorOptions
from medprune.hardware.prefetch import prefetched
from medprune.hardware.precision import autocast, grad_scaler
from medprune.evaluation.metrics import compute_auroc
from medprune.evaluation.predict import positive_or_all, predict_proba


AUGMENTATIONS = augmentation.MODES
CLASS_WEIGHTING = ("auto", "on", "off")
# `--class-weighting auto` weights the loss when the largest training class outnumbers the smallest by more.
# Thresholds are chosen on validation and AUROC ignores class priors, so weighting earns its keep only where a
# class is rare enough to starve of gradient (measured: docs/experiments.md).
IMBALANCE_RATIO = 10.0
# Recipe changes tried and not adopted (mixup, label smoothing, a 3-epoch mean for model selection, a growing
# averaging horizon): docs/experiments.md.


def _one_of(name: str, choices: tuple[str, ...]):
    """A field validator: `name` must be one of `choices` (the message lists them)."""
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"{name.replace('_', ' ')} must be one of {', '.join(choices)}, got '{value}'")
        return value
    return field_validator(name)(check)


class TrainConfig(AcceleratorOptions):
    """Hyper-parameters of one training run, declared once: `medprune train`'s options and a recipe's
    `reference: {train: ...}` keys are read from these fields.

    `epochs=None` takes the number of passes from the step budget named by `budget` (see medprune.training.budget)
    and stops early when validation AUROC has not improved for `patience` epochs (None: a quarter of the
    budget; 0: never). Given `epochs` are run in full unless `patience` is given too.
    """

    epochs: int | None = Field(default=None, ge=1, description=(
        "Training epochs, run in full (default: at least 500 optimizer steps and 10 epochs, at most 150 epochs, "
        "with early stopping)."))
    budget: str = Field(default="training", description="The step budget of medprune.training.budget: training or "
                                                        "finetuning.", json_schema_extra={"cli": False})
    patience: int | None = Field(default=None, ge=0, description=(
        "Stop after this many epochs without a better validation AUROC; 0: never (default: a quarter of the "
        "automatic budget; none with --epochs)."))
    time_budget_s: float | None = Field(default=None, gt=0, description=(
        "No epoch is begun that would end past this many seconds."), json_schema_extra={"cli": False})
    batch_size: int = Field(default=128, ge=2, description="Batch size (BatchNorm needs 2 cases).")
    lr: float = Field(default=1e-3, gt=0, lt=10, description="Learning rate.")
    optimizer: str = Field(default="adam", description="adam (AdamW) or sgd (Nesterov momentum).")
    schedule: str = Field(default="cosine", description="cosine, step or none.")
    weight_decay: float = Field(default=1e-4, ge=0, description="Weight decay.")
    augment: str = Field(default="auto", description=(
        "Training augmentation of images: auto (strong below 2,000 training cases, else light), none, light (2 px "
        "shifts; flips for volumes), strong (also small rotations and zooms, intensity jitter, left-right flips "
        "where the anatomy allows) or corruptions (light, and a random corruption at a random severity on half of "
        "each batch: robustness)."))
    class_weighting: str = Field(default="auto", description=(
        "Weight the loss by inverse class frequency: on, off, or auto (on when the largest training class "
        "outnumbers the smallest more than 10 to 1)."))
    # "ema": validate and keep an exponential moving average of the weights (horizon about two epochs) instead
    # of the weights of the last step, which swing with a high learning rate on small sets; its BatchNorm
    # statistics are re-estimated before each validation (see _Average.applied). Measured: RetinaMNIST test
    # AUROC 0.7324 -> 0.7447, the 546-image PneumoniaMNIST subset 0.9621 -> 0.9671, PneumoniaMNIST resnet18
    # 0.9674 -> 0.9781; the demo's smallcnn pruned to half its MACs and fine-tuned 6 epochs kept its operating
    # point (specificity at the reference threshold -0.017 with averaging while fine-tuning, -0.064 without).
    average: str = Field(default="ema", description="ema: validate and keep a moving average of the weights; "
                                                    "none: the last step's weights.", json_schema_extra={"cli": False})
    seed: int = Field(default=0, description="Seed of initialisation, shuffling and augmentation.")

    _budget = _one_of("budget", tuple(BUDGETS))
    _optimizer = _one_of("optimizer", ("adam", "sgd"))
    _schedule = _one_of("schedule", ("cosine", "step", "none"))
    _augment = _one_of("augment", AUGMENTATIONS)
    _class_weighting = _one_of("class_weighting", CLASS_WEIGHTING)
    _average = _one_of("average", ("ema", "none"))

    def check(self) -> TrainConfig:
        """Every value was checked when the config was made; kept so callers can chain it."""
        return self


@dataclass(frozen=True)
class Plan:
    """What a run does once the automatic choices of its TrainConfig are made for the data."""

    epochs: int
    steps_per_epoch: int | None
    patience: int  # 0: no early stopping
    earliest_stop: int  # no early stop before this epoch
    augment: str
    class_weighting: bool
    average_decay: float  # per optimizer step; 0: no weight averaging
    mirror: bool = False  # `strong` flips 2D images left-right (MIRROR_SAFE); volumes are flipped by any mode

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def average_decay(config: TrainConfig, steps_per_epoch: int | None) -> float:
    """EMA decay whose horizon (1 / (1 - decay) steps) is about two epochs, within [0.9, 0.999]."""
    if config.average == "none":
        return 0.0
    return 0.99 if not steps_per_epoch else float(np.clip(1 - 1 / (2 * steps_per_epoch), 0.9, 0.999))


def plan(config: TrainConfig, dataset: Dataset) -> Plan:
    """Resolve `config`'s automatic choices (epochs, patience, augmentation, class weighting) for `dataset`."""
    y = dataset.split("train").y
    n = len(y)
    epochs = config.epochs or BUDGETS[config.budget].epochs(n, config.batch_size)
    counts = np.bincount(y, minlength=dataset.n_classes)
    present = counts[counts > 0]
    imbalanced = bool(len(present) > 1 and present.max() / present.min() > IMBALANCE_RATIO)
    augment = augmentation.choose(config.augment, modality=dataset.modality, n_train=n)
    return _plan(config, epochs, math.ceil(n / config.batch_size), augment=augment,
                 class_weighting=config.class_weighting == "on" or (config.class_weighting == "auto" and imbalanced),
                 mirror=augmentation.flips_images(augment, dataset_name=dataset.name, input_shape=dataset.input_shape))


def _plan(config: TrainConfig, epochs: int, steps: int | None, *, augment: str, class_weighting: bool,
          mirror: bool = False) -> Plan:
    """The Plan of `epochs` passes of `steps` batches: patience, earliest stop and averaging follow from them."""
    return Plan(epochs=epochs, steps_per_epoch=steps, patience=_patience(config, epochs),
                earliest_stop=_earliest_stop(config, epochs), augment=augment, class_weighting=class_weighting,
                average_decay=average_decay(config, steps), mirror=mirror)


def _patience(config: TrainConfig, epochs: int) -> int:
    if config.patience is not None:
        return config.patience
    return patience(epochs) if config.epochs is None else 0


def _earliest_stop(config: TrainConfig, epochs: int) -> int:
    """Automatic budgets wait for half their epochs; a patience the user gives applies from the start."""
    return earliest_stop(epochs) if config.epochs is None and config.patience is None else 0


@dataclass(frozen=True)
class Distillation:
    """Knowledge distillation from a teacher (Hinton et al. 2015): the loss mixes the labels with the
    teacher's softened probabilities, `(1 - weight) * CE + weight * T^2 * KL(teacher || student)`."""

    teacher: nn.Module
    temperature: float = 4.0
    weight: float = 0.5

    def check(self) -> Distillation:
        if self.temperature <= 0:
            raise ConfigError(f"distillation temperature must be > 0, got {self.temperature}: try 4")
        if not 0 <= self.weight <= 1:
            raise ConfigError(f"distillation weight must be in [0, 1], got {self.weight}: try 0.5")
        return self

    def loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
        with torch.no_grad():
            teacher = self.teacher(x)
        t = self.temperature
        soft = F.kl_div(F.log_softmax(logits / t, dim=1), F.log_softmax(teacher / t, dim=1), log_target=True,
                        reduction="batchmean") * t * t
        return (1 - self.weight) * F.cross_entropy(logits, y, weight=weight) + self.weight * soft


@dataclass(frozen=True)
class TrainResult:
    best_epoch: int
    best_val_auroc: float
    epochs_run: int
    wall_time_s: float
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int = 0
    stopped: str = ""  # why training ended, in words
    device: str = "cpu"  # where it trained, in words (the model comes back on the CPU)
    processes: int = 1  # data-parallel processes (torchrun)
    plan: dict[str, Any] = field(default_factory=dict)  # the Plan the run followed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def said(self, selection: str = "") -> str:
        """The run in one line for a log; `selection` adds how the epoch was chosen (e.g. the guard's words)."""
        return (f"fine-tuned {self.epochs_run} epochs (best validation AUROC {self.best_val_auroc:.4f} at epoch "
                f"{self.best_epoch}{selection}); stopped: {self.stopped}")


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                               weight_decay=config.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
               epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def _class_weights(y: np.ndarray, n_classes: int) -> torch.Tensor:
    counts = np.bincount(y, minlength=n_classes).astype(float)
    return torch.tensor(len(y) / (n_classes * np.maximum(counts, 1)), dtype=torch.float32)


def _auroc_and_loss(y: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """(validation AUROC, validation cross-entropy) of softmax `probs`."""
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None))))
    return compute_auroc(y, positive_or_all(probs)), loss


class _Average:
    """An exponential moving average of a model's weights and buffers (Polyak averaging), kept as a state dict
    (a copy of the module would fail on pruning masks, whose weights are computed tensors).

    The decay warms up as (1 + t) / (10 + t) over the first steps, so a short run averages its own recent
    steps instead of dragging the starting weights along.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.state = _copy_state(model)
        self.decay, self.steps = decay, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        self.steps += 1
        for key, live in model.state_dict().items():
            average = self.state[key]
            if average.dtype.is_floating_point:
                average.mul_(decay).add_(live, alpha=1 - decay)
            else:
                average.copy_(live)

    @contextlib.contextmanager
    def applied(self, model: nn.Module, bn_inputs: list[torch.Tensor]) -> Iterator[nn.Module]:
        """`model` holding the averaged weights inside the block, its own again after it.

        Averaged weights come with averaged BatchNorm statistics, which do not describe their own activations (a
        reference kept so lost its operating point when pruned): they are re-estimated on `bn_inputs`, as SWA's
        update_bn does.
        """
        live = _copy_state(model)
        model.load_state_dict(self.state)
        recalibrate_batchnorm(model, bn_inputs)
        try:
            yield model
        finally:
            model.load_state_dict(live)


BN_BATCHES = 8  # training batches that re-estimate the BatchNorm statistics of averaged weights


def _bn_inputs(loop: _Loop, config: TrainConfig, steps_per_epoch: int | None) -> list[torch.Tensor]:
    """At most BN_BATCHES, and about a quarter of an epoch's (at least 2): re-estimating before each validation
    must stay a small share of the epoch (all 5 batches of a 546-image set put a 6-minute run at 6 min 19 s)."""
    n = BN_BATCHES if not steps_per_epoch else min(BN_BATCHES, max(2, steps_per_epoch // 4))
    batches = loop.epoch_batches(np.random.default_rng(config.seed + 1))
    return [x for x, _ in itertools.islice(batches, n)]


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


class _State:
    """Everything needed to continue a run exactly where it stopped."""

    def __init__(self, model, optimizer, scheduler, rng, config, average: _Average | None):
        self.model, self.optimizer, self.scheduler, self.rng, self.config = model, optimizer, scheduler, rng, config
        self.average = average
        self.epoch = 0
        self.elapsed_s = 0.0  # training time of earlier sessions of a resumed run
        self.best_state = copy.deepcopy(model.state_dict())
        self.best_score, self.best_epoch, self.best_auroc = -math.inf, 0, float("nan")
        self.history: list[dict[str, float]] = []

    def save(self, path: Path) -> None:
        payload = {
            "epoch": self.epoch, "elapsed_s": self.elapsed_s, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "best_state": self.best_state,
            "best": json.dumps([self.best_score, self.best_epoch, self.best_auroc]),
            "history": json.dumps(self.history), "config": json.dumps(self.config.to_dict()),
            "torch_rng": torch.get_rng_state(), "numpy_rng": json.dumps(self.rng.bit_generator.state),
        }
        if self.average is not None:
            payload["average"] = self.average.state
            payload["average_steps"] = self.average.steps
        write_atomic(path, lambda tmp: torch.save(payload, tmp))

    def load(self, path: Path) -> None:
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # any unreadable file means the same to the user
            raise CheckpointError(f"{path} cannot be read ({type(err).__name__}): delete it and train "
                                  "again without --resume") from None
        if resumable(json.loads(payload["config"])) != resumable(self.config.to_dict()):
            raise ConfigError(f"{path} was written with other training settings: resume with the same "
                              "options, or start a new run without --resume")
        self.model.load_state_dict(payload["model"])
        if self.average is not None:
            self.average.state = payload["average"]
            self.average.steps = int(payload["average_steps"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.best_state = payload["best_state"]
        self.best_score, self.best_epoch, self.best_auroc = json.loads(payload["best"])
        self.history = json.loads(payload["history"])
        self.epoch = int(payload["epoch"])
        self.elapsed_s = float(payload.get("elapsed_s", 0.0))
        torch.set_rng_state(payload["torch_rng"])
        self.rng.bit_generator.state = json.loads(payload["numpy_rng"])


def resumable(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a resumed run must share with the interrupted one: all but the device (a run begun on a GPU
    may go on on the CPU); state files from before precision was a setting trained in 32."""
    return {"precision": "32"} | {key: value for key, value in config.items() if key != "device"}


def fit(model: nn.Module, dataset: Dataset, config: TrainConfig, *, state_path: Path | None = None,
        resume: bool = False, progress: bool = True, distill: Distillation | None = None,
        keep_start: bool = False, on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
        penalty: Callable[[nn.Module], torch.Tensor] | None = None, last_epoch: bool = False,
        selection_score: Callable[[np.ndarray, np.ndarray], float] | None = None) -> TrainResult:
    """Train `model` in place and leave it holding the weights of the best validation epoch.

    Args:
        state_path: where the full training state is saved after every epoch.
        resume: continue from `state_path` (same settings required).
        distill: learn from a teacher's soft predictions as well as from the labels.
        keep_start: the starting weights compete in model selection too (fine-tuning then never
            returns a model worse on validation than the one it was given).
        on_epoch_end: called with (epoch, record) after each epoch's state is saved.
        penalty: a regulariser added to every batch's loss (e.g. sparsity penalties).
        last_epoch: leave the model as the last epoch made it, not the best validation epoch (for
            scores that describe training after a fixed number of epochs).
        selection_score: model selection by this score of (validation labels, softmax probabilities), higher
            is better, instead of validation AUROC: e.g. medprune.evaluation.operating_point's guard.
    Raises:
        ConfigError: bad settings, or resuming with different settings.
    """
    config.check()
    train, val, pre = dataset.split("train"), dataset.split("val"), dataset.preprocessing
    the_plan = plan(config, dataset)
    kind = kind_of(dataset.input_shape) if the_plan.augment == "corruptions" else None

    def augment(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if the_plan.augment == "none":
            return x
        if the_plan.augment == "strong":
            return augmentation.strong(x, rng, mirror=the_plan.mirror)
        return augmentation.shift(x, rng)

    def epoch_batches(rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = rng.permutation(len(train))
        order = order[: len(order) - (len(order) % config.batch_size == 1)]  # no batch of one for BN
        batches = [order[start:start + config.batch_size] for start in range(0, len(order), config.batch_size)]
        for idx, stored in zip(batches, read_batches(train.x, batches)):
            x = to_tensor(corrupt_randomly(stored, kind, rng) if kind else stored, pre)
            yield augment(x, rng), torch.from_numpy(train.y[idx])

    loop = _Loop(epoch_batches, lambda m: (val.y, predict_proba(m, val, pre)),
                 _class_weights(train.y, dataset.n_classes) if the_plan.class_weighting else None)
    return _run(model, config, the_plan, loop, state_path=state_path, resume=resume, progress=progress, distill=distill,
                keep_start=keep_start, on_epoch_end=on_epoch_end, penalty=penalty, last_epoch=last_epoch,
                selection_score=selection_score)


def finetune(model: nn.Module, train: Iterable[tuple[torch.Tensor, torch.Tensor]],
             val: Iterable[tuple[torch.Tensor, torch.Tensor]], *, epochs: int | None = None, lr: float = 5e-4,
             teacher: nn.Module | None = None, temperature: float = 4.0, distill_weight: float = 0.5,
             optimizer: Literal["adam", "sgd"] = "adam", weight_decay: float = 1e-4, seed: int = 0,
             progress: bool = True) -> TrainResult:
    """Fine-tune any model in place on your own DataLoaders (e.g. after `medprune.prune`).

    Model selection on validation AUROC keeps a copy of the best weights, and the starting weights compete,
    so the model handed back is never worse on validation than the one given. With `teacher` (e.g. the dense
    model) the loss adds knowledge distillation (Hinton et al. 2015).

    Args:
        train: a re-iterable source of (inputs, labels) batches, such as a torch DataLoader.
        val: the validation batches, alike.
        epochs: passes over `train`; None takes them from the fine-tuning step budget (medprune.training.budget) and
            stops early when validation AUROC stops improving.
    Raises:
        ConfigError: bad settings, or an empty training source.
    """
    config = TrainConfig(epochs=epochs, budget="finetuning", lr=lr, optimizer=optimizer, weight_decay=weight_decay,
                         augment="none", class_weighting="off", seed=seed, schedule="cosine").check()
    steps = len(train) if hasattr(train, "__len__") else None
    if steps == 0:
        raise ConfigError("the training source yields no batches: pass a DataLoader over your training cases")
    if epochs is None and steps is None:
        raise ConfigError("the training source has no length to size a step budget by: pass epochs=N")
    the_plan = _plan(config, epochs or BUDGETS["finetuning"].epochs_for(steps), steps, augment="none",
                     class_weighting=False)

    def epoch_batches(rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return ((torch.as_tensor(x).float(), torch.as_tensor(y).long().reshape(-1)) for x, y in train)

    def val_predictions(m: nn.Module) -> tuple[np.ndarray, np.ndarray]:
        m.eval()
        device = device_of(m)
        with torch.no_grad():
            pairs = [(torch.softmax(m(torch.as_tensor(x).float().to(device)), 1).cpu(), torch.as_tensor(y).reshape(-1))
                     for x, y in val]
        return torch.cat([t for _, t in pairs]).long().numpy(), torch.cat([p for p, _ in pairs]).double().numpy()

    distill = Distillation(teacher, temperature, distill_weight) if teacher is not None else None
    return _run(model, config, the_plan, _Loop(epoch_batches, val_predictions, None), progress=progress, distill=distill,
                keep_start=True)


@dataclass(frozen=True)
class _Loop:
    """Where a training run gets its batches and its validation predictions from."""

    epoch_batches: Callable[[np.random.Generator], Iterator[tuple[torch.Tensor, torch.Tensor]]]
    val_predictions: Callable[[nn.Module], tuple[np.ndarray, np.ndarray]]  # (labels, softmax probabilities)
    class_weight: torch.Tensor | None


def _stop_reason(state: _State, plan: Plan, config: TrainConfig, elapsed_s: float) -> str:
    """Why the run must not start another epoch, or "" to go on."""
    done = state.epoch
    if done >= plan.epochs:
        steps = f" ({done * plan.steps_per_epoch} optimizer steps)" if plan.steps_per_epoch else ""
        return f"the budget of {plan.epochs} epochs{steps} ran out"
    if plan.patience and done >= plan.earliest_stop and done - state.best_epoch >= plan.patience:
        return (f"early stopping: validation AUROC was not better than {state.best_auroc:.4f} (epoch "
                f"{state.best_epoch}) for {plan.patience} epochs")
    if config.time_budget_s is not None and done > 0 and elapsed_s + elapsed_s / done > config.time_budget_s:
        return (f"time budget: {elapsed_s:.0f} s of {config.time_budget_s:.0f} s used, another epoch "
                f"(about {elapsed_s / done:.0f} s) would pass it")
    return ""


def _run(model: nn.Module, config: TrainConfig, plan: Plan, loop: _Loop, *, state_path: Path | None = None,
         resume: bool = False, progress: bool = True, distill: Distillation | None = None, keep_start: bool = False,
         on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
         penalty: Callable[[nn.Module], torch.Tensor] | None = None, last_epoch: bool = False,
         selection_score: Callable[[np.ndarray, np.ndarray], float] | None = None) -> TrainResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    device = resolve_device(config.device)
    processes = world(device)
    if distill is not None:
        teacher_device = device_of(distill.check().teacher)
        distill.teacher.to(device).eval()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model.to(device)
    optimizer = make_optimizer(model, config)
    scaler = grad_scaler(device, config.precision)
    average = _Average(model, plan.average_decay) if plan.average_decay else None
    bn_inputs = _bn_inputs(loop, config, plan.steps_per_epoch) if average is not None else []
    trained = processes.wrap(model, device)
    torch.manual_seed(config.seed + processes.rank)  # dropout and other random layers: a stream per process

    def evaluated() -> contextlib.AbstractContextManager[nn.Module]:
        """The model as validated, selected and kept: holding the averaged weights when averaging."""
        return average.applied(model, bn_inputs) if average else contextlib.nullcontext(model)

    state = _State(model, optimizer, make_scheduler(optimizer, config, plan.epochs), rng, config, average)
    if resume and state_path is not None and Path(state_path).is_file():
        state.load(Path(state_path))
    start_epoch = state.epoch

    def validated(m: nn.Module) -> tuple[float, float, float]:
        """(validation AUROC, validation loss, selection score) from one pass over the validation split."""
        y, probs = loop.val_predictions(m)
        val_auroc, val_loss = _auroc_and_loss(y, probs)
        if selection_score is not None:
            return val_auroc, val_loss, selection_score(y, probs)
        return val_auroc, val_loss, val_auroc if math.isfinite(val_auroc) else -val_loss

    if keep_start and start_epoch == 0:
        val_auroc, _, state.best_score = validated(model)
        state.best_auroc = val_auroc
    weight = None if loop.class_weight is None else loop.class_weight.to(device)
    began = time.perf_counter()
    steps = plan.steps_per_epoch
    total = (plan.epochs - start_epoch) * steps if steps else None
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns, disable=not (progress and processes.main), transient=False) as bar:
        task = bar.add_task("training", total=total, status="")
        while not (stopped := processes.first_reason(
                _stop_reason(state, plan, config, state.elapsed_s + time.perf_counter() - began))):
            epoch = state.epoch + 1
            model.train()
            total_loss, seen = 0.0, 0
            batches = loop.epoch_batches(rng)
            for x, y in prefetched(batches) if device.type == "cuda" else batches:
                if len(y) < 2 * processes.size:  # every process needs 2 cases for BatchNorm
                    continue
                x, y = to_device(processes.shard(x), device), to_device(processes.shard(y), device)
                with autocast(device, config.precision):
                    logits = trained(x)
                    loss = (distill.loss(logits, x, y, weight) if distill
                            else F.cross_entropy(logits, y, weight=weight))
                    if penalty is not None:
                        loss = loss + penalty(model)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if average is not None:
                    average.update(model)
                total_loss += loss.item() * len(y)
                seen += len(y)
                bar.update(task, advance=1, description=f"epoch {epoch}/{plan.epochs}")
            state.scheduler.step()
            with evaluated() as m:
                val_auroc, val_loss, score = validated(m)
                if score > state.best_score:
                    state.best_score, state.best_epoch, state.best_auroc = score, epoch, val_auroc
                    state.best_state = copy.deepcopy(m.state_dict())
            record = {"epoch": epoch, "train_loss": total_loss / max(seen, 1), "val_loss": val_loss,
                      "val_auroc": val_auroc, "lr": optimizer.param_groups[0]["lr"]}
            state.history.append(record)
            state.epoch = epoch
            state.elapsed_s, began = state.elapsed_s + time.perf_counter() - began, time.perf_counter()
            if state_path is not None and processes.main:
                state.save(Path(state_path))
            bar.update(task, status=f"val AUROC {val_auroc:.4f} (best {state.best_auroc:.4f} @ {state.best_epoch})")
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
        if total is not None:
            bar.update(task, total=(state.epoch - start_epoch) * steps)
    processes.unwrap(model)
    if not last_epoch:
        model.load_state_dict(state.best_state)
    elif average is not None:
        model.load_state_dict(average.state)
        recalibrate_batchnorm(model, bn_inputs)
    model.cpu().eval()
    if distill is not None:
        distill.teacher.to(teacher_device)
    return TrainResult(best_epoch=state.best_epoch, best_val_auroc=state.best_auroc,
                       epochs_run=state.epoch - start_epoch, wall_time_s=state.elapsed_s + time.perf_counter() - began,
                       history=state.history, resumed_from_epoch=start_epoch, stopped=stopped, plan=plan.to_dict(),
                       device=describe_device(device), processes=processes.size)
