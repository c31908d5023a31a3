"""Training a segmentation network with MONAI's pieces: Dice + cross-entropy loss, foreground-balanced patch
sampling when cases are larger than the patch, spatial augmentation of image and mask together, sliding-window
validation, model selection on validation mean Dice, early stopping and resume (the same TrainConfig and
state file conventions as classification)."""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medprune._atomic import write_atomic
from medprune.errors import CheckpointError, ConfigError
from medprune.data.segmentation import SegmentationDataset, SegmentationSplit
from medprune.hardware.device import describe_device, device_of, resolve_device, to_device
from medprune.hardware.distributed import world
from medprune.hardware.precision import autocast, grad_scaler
from medprune.training.loop import TrainConfig, make_optimizer, make_scheduler, resumable

MAX_PATCH = {2: 256, 3: 96}  # largest patch side trained on: bounds CPU memory and step time
DEFAULT_BATCH = {2: 16, 3: 4}
# Epochs when none are given, sized for a CPU: the Decathlon hippocampus (182 training volumes) trains in about 24
# minutes on 2 cores to test Dice 0.880 / 0.865, and 566 chest X-rays at 256 px in about 13 (Dice 0.956 on another
# hospital's 138). Larger data or a GPU: pass --epochs, or --time-budget to stop on time.
DEFAULT_EPOCHS = {2: 20, 3: 60}
# Fine-tuning a pruned network (prune, search) when no epochs are given: the classifiers' step budget assumes
# thousands of small cases, and a few volumes per step would make it hundreds of epochs.
DEFAULT_FINETUNE_EPOCHS = 10


@dataclass(frozen=True)
class Inference:
    """How a segmentation model is run on a whole case: sliding windows of `patch_size` overlapping by `overlap`,
    then, for each (label, n) of `keep_largest`, only the label's n largest connected components kept (chosen on
    validation: 1 for a structure in one piece, 2 for a pair such as the lungs)."""

    patch_size: tuple[int, ...]
    overlap: float = 0.25
    keep_largest: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"patch_size": list(self.patch_size), "overlap": self.overlap,
                "keep_largest": {str(label): n for label, n in self.keep_largest}}

    def postprocess(self, labels: np.ndarray) -> np.ndarray:
        """One case's label map with stray components of the `keep_largest` labels removed."""
        for label, n in self.keep_largest:
            labels = keep_largest_components(labels, label, n)
        return labels

    @classmethod
    def for_data(cls, dataset: SegmentationDataset) -> Inference:
        cap = MAX_PATCH[dataset.spatial_dims]
        return cls(tuple(min(s, cap) for s in dataset.input_shape[1:]))

    @classmethod
    def recorded(cls, recorded: dict[str, Any] | None, input_shape: tuple[int, ...]) -> Inference:
        """The inference a checkpoint spec records (a whole padded case when it records none)."""
        recorded = recorded or {"patch_size": list(input_shape[1:])}
        kept = tuple(sorted((int(label), int(n)) for label, n in recorded.get("keep_largest", {}).items()))
        return cls(tuple(recorded["patch_size"]), float(recorded.get("overlap", 0.25)), kept)


# How many of a structure's largest components validation may choose to keep (more is rarely anatomy).
MAX_COMPONENTS_KEPT = 3


def keep_largest_components(labels: np.ndarray, label: int, n: int = 1) -> np.ndarray:
    """`labels` with every voxel of `label` outside its `n` largest connected components (neighbours by faces,
    edges and corners) set to background."""
    from scipy import ndimage

    mask = labels == label
    components, count = ndimage.label(mask, structure=ndimage.generate_binary_structure(mask.ndim, mask.ndim))
    if count <= n:
        return labels
    sizes = np.bincount(components.ravel())[1:]
    kept = np.argsort(-sizes, kind="stable")[:n] + 1
    return np.where(mask & ~np.isin(components, kept), 0, labels).astype(labels.dtype)


def choose_postprocessing(model: nn.Module, dataset: SegmentationDataset, inference: Inference) -> Inference:
    """nnU-Net's rule, for 1 to MAX_COMPONENTS_KEPT components: keep only a structure's largest components when that
    raises its mean Dice on the validation split (never on test); stray blobs (a border artefact) then go."""
    val = dataset.split("val")
    plain = predict_masks(model, val, replace(inference, keep_largest=()))
    chosen = components_to_keep(plain, [val.case(i)[1] for i in range(len(val))], dataset.n_classes)
    return replace(inference, keep_largest=chosen)


def components_to_keep(preds: list[np.ndarray], truths: list[np.ndarray],
                       n_classes: int) -> tuple[tuple[int, int], ...]:
    """(label, n) for each label whose mean Dice over these cases rises (strictly) most by keeping its n largest
    components (the fewest n among equals); labels that no n helps are left out."""
    def dice(k: int, n: int | None) -> float:
        kept = preds if n is None else [keep_largest_components(p, k, n) for p in preds]
        return float(np.mean([label_dice(p == k, t == k, 2) for p, t in zip(kept, truths)]))

    chosen = []
    for k in range(1, n_classes):
        best, best_n = dice(k, None), None
        for n in range(1, MAX_COMPONENTS_KEPT + 1):
            if (score := dice(k, n)) > best:
                best, best_n = score, n
        if best_n is not None:
            chosen.append((k, best_n))
    return tuple(chosen)


@dataclass(frozen=True)
class VoxelDistillation:
    """Distillation for segmentation: voxel-wise KL divergence to the teacher's softened outputs at a temperature,
    weighted against the task loss (Dice + cross-entropy)."""

    teacher: nn.Module
    temperature: float = 4.0
    weight: float = 0.5

    def loss(self, logits: torch.Tensor, x: torch.Tensor, task_loss: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        with torch.no_grad():
            target = F.softmax(self.teacher(x) / self.temperature, dim=1)
        soft = F.kl_div(F.log_softmax(logits / self.temperature, dim=1), target, reduction="none").sum(1).mean()
        return (1 - self.weight) * task_loss + self.weight * soft * self.temperature ** 2


def predict_logits(model: nn.Module, x: torch.Tensor, inference: Inference) -> torch.Tensor:
    """Logits for whole cases (N, C, *S) by MONAI's sliding-window inference (one window when the case fits)."""
    from monai.inferers import sliding_window_inference

    with torch.no_grad():  # windows run where the model is; the whole case is put together on the CPU
        return sliding_window_inference(x, inference.patch_size, sw_batch_size=4, predictor=model,
                                        overlap=inference.overlap, mode="gaussian", sw_device=device_of(model),
                                        device="cpu")


def predict_masks(model: nn.Module, split: SegmentationSplit, inference: Inference, batch: int = 8) -> list[np.ndarray]:
    """Each case's label map, cropped back to its own shape."""
    model.eval()
    out = []
    for start in range(0, len(split), batch):
        x = torch.from_numpy(split.x[start:start + batch])
        labels = predict_logits(model, x, inference).argmax(1).numpy().astype(np.uint8)
        for i, label in enumerate(labels):
            out.append(inference.postprocess(label[tuple(slice(0, int(s)) for s in split.shapes[start + i])]))
    return out


def validation_dice(model: nn.Module, dataset: SegmentationDataset, inference: Inference) -> float:
    """Mean Dice of a model on the validation split (model selection, pruning steps)."""
    val = dataset.split("val")
    return mean_dice(predict_masks(model, val, inference), val, dataset.n_classes)


def label_dice(a: np.ndarray, b: np.ndarray, n_classes: int) -> float:
    """Mean Dice over the structures of two label maps of one case (a structure absent from both counts 1)."""
    scores = []
    for k in range(1, n_classes):
        p, t = a == k, b == k
        denominator = p.sum() + t.sum()
        scores.append(1.0 if denominator == 0 else 2.0 * (p & t).sum() / denominator)
    return float(np.mean(scores))


def mean_dice(preds: list[np.ndarray], split: SegmentationSplit, n_classes: int) -> float:
    """Mean Dice over cases and structures against the split's ground truth, for model selection."""
    return float(np.mean([label_dice(pred, split.case(i)[1], n_classes) for i, pred in enumerate(preds)]))


def _augmenter(dims: int, patch: tuple[int, ...], shape: tuple[int, ...], seed: int):
    """MONAI transforms on one case {'image', 'label'}: a foreground-balanced patch when the case is larger than
    the patch, a small random affine of image and mask together, intensity scale and shift, gamma (contrast) and
    noise. Gamma and noise are nnU-Net's: scanners and hospitals differ most in contrast, and a model trained at one
    site is tested at another (cxr_lungs: Shenzhen to Montgomery)."""
    from monai.transforms import (Compose, RandAdjustContrastd, RandAffined, RandCropByPosNegLabeld, RandGaussianNoised,
                                  RandScaleIntensityd, RandShiftIntensityd)

    steps = []
    if tuple(patch) != tuple(shape):
        steps.append(RandCropByPosNegLabeld(["image", "label"], "label", spatial_size=patch, pos=1, neg=1,
                                            num_samples=1))
    steps += [RandAffined(["image", "label"], prob=0.5, rotate_range=[0.15] * (1 if dims == 2 else 3),
                          scale_range=[0.1] * dims, mode=("bilinear", "nearest"), padding_mode="zeros"),
              RandScaleIntensityd("image", factors=0.1, prob=0.5), RandShiftIntensityd("image", offsets=0.1, prob=0.5),
              RandAdjustContrastd("image", prob=0.3, gamma=(0.7, 1.5)), RandGaussianNoised("image", prob=0.15, std=0.1)]
    transform = Compose(steps)
    transform.set_random_state(seed)
    return transform


def _plain(x) -> torch.Tensor:
    return x.as_tensor() if hasattr(x, "as_tensor") else torch.as_tensor(x)


def _batch(transform, split: SegmentationSplit, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for i in indices:
        out = transform({"image": torch.from_numpy(split.x[i]), "label": torch.from_numpy(split.y[i][None].copy())})
        out = out[0] if isinstance(out, list) else out
        # MONAI's transforms return MetaTensors, whose metadata tracking would wrap every operation of training
        images.append(_plain(out["image"]).float())
        labels.append(_plain(out["label"]).long())
    return torch.stack(images), torch.stack(labels)


@dataclass
class SegmentationResult:
    best_epoch: int
    best_val_dice: float
    epochs_run: int
    wall_time_s: float
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int = 0
    stopped: str = ""
    device: str = "cpu"  # where it trained, in words (the model comes back on the CPU)
    processes: int = 1  # data-parallel processes (torchrun)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def said(self) -> str:
        """What fine-tuning did, in one line of the log."""
        return (f"fine-tuned {self.epochs_run} epochs (best validation Dice {self.best_val_dice:.4f} at epoch "
                f"{self.best_epoch}); stopped: {self.stopped}")


def segmentation_defaults(config: TrainConfig, dataset: SegmentationDataset) -> TrainConfig:
    """Batch size and epochs for volumes and images unless the user chose them."""
    chosen = config.model_fields_set
    dims = dataset.spatial_dims
    return config.replace(batch_size=config.batch_size if "batch_size" in chosen else DEFAULT_BATCH[dims],
                          epochs=config.epochs or DEFAULT_EPOCHS[dims])


def fit_segmentation(model: nn.Module, dataset: SegmentationDataset, config: TrainConfig, *,
                     state_path: Path | None = None, resume: bool = False, progress: bool = True,
                     inference: Inference | None = None, distill: VoxelDistillation | None = None,
                     keep_start: bool = False) -> SegmentationResult:
    """Train in place; the model ends holding the weights of the best validation mean Dice (with `keep_start`, the
    starting weights count as a candidate: fine-tuning never returns a worse model than it was given)."""
    from monai.losses import DiceCELoss
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    config = segmentation_defaults(config, dataset)
    inference = inference or Inference.for_data(dataset)
    train = dataset.split("train")
    device = resolve_device(config.device)
    processes = world(device)
    if len(train) < config.batch_size or config.batch_size < 2 * processes.size:
        raise ConfigError(f"{len(train)} training cases, --batch-size {config.batch_size} and {processes.size} "
                          "process(es): the batch must hold at least 2 cases per process and fit the training split")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model.to(device)
    optimizer = make_optimizer(model, config)
    scaler = grad_scaler(device, config.precision)
    scheduler = make_scheduler(optimizer, config, config.epochs)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    transform = _augmenter(dataset.spatial_dims, inference.patch_size, dataset.input_shape[1:], config.seed)
    state = {"epoch": 0, "elapsed_s": 0.0, "best": -math.inf, "best_epoch": 0, "history": [],
             "best_state": copy.deepcopy(model.state_dict())}
    if resume and state_path is not None and Path(state_path).is_file():
        _load_state(Path(state_path), model, optimizer, scheduler, rng, config, state)
    start = state["epoch"]
    if keep_start and start == 0:
        state["best"] = validation_dice(model, dataset, inference)
    if distill is not None:
        teacher_device = device_of(distill.teacher)
        distill.teacher.to(device).eval()
    trained = processes.wrap(model, device)
    torch.manual_seed(config.seed + processes.rank)  # dropout: a stream per process
    # Validation Dice plateaus early and gains again as the cosine schedule anneals: stop only after half the run.
    patience = config.patience if config.patience is not None else max(10, config.epochs // 2)
    steps = max(1, len(train) // config.batch_size)
    began, stopped = time.perf_counter(), ""
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns, disable=not (progress and processes.main)) as bar:
        task = bar.add_task("training", total=(config.epochs - start) * steps, status="")
        while True:
            elapsed = state["elapsed_s"] + time.perf_counter() - began
            if state["epoch"] >= config.epochs:
                stopped = f"all {config.epochs} epochs run"
            elif patience and state["epoch"] - state["best_epoch"] >= patience:
                stopped = f"no better validation Dice for {patience} epochs"
            elif config.time_budget_s and state["epoch"] > start and \
                    elapsed / (state["epoch"] - start) * (state["epoch"] - start + 1) > config.time_budget_s:
                stopped = f"time budget of {config.time_budget_s:.0f} s"
            if stopped := processes.first_reason(stopped):
                break
            epoch = state["epoch"] + 1
            model.train()
            order, total_loss = rng.permutation(len(train)), 0.0
            for b in range(steps):
                x, y = _batch(transform, train, order[b * config.batch_size:(b + 1) * config.batch_size])
                x, y = to_device(processes.shard(x), device), to_device(processes.shard(y), device)
                with autocast(device, config.precision):
                    logits = trained(x)
                    loss = loss_fn(logits, y)
                    if distill is not None:
                        loss = distill.loss(logits, x, loss)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                total_loss += loss.item()
                bar.update(task, advance=1, description=f"epoch {epoch}/{config.epochs}")
            scheduler.step()
            dice = validation_dice(model, dataset, inference)
            if dice > state["best"]:
                state.update(best=dice, best_epoch=epoch, best_state=copy.deepcopy(model.state_dict()))
            state["history"].append({"epoch": epoch, "train_loss": total_loss / steps, "val_dice": dice,
                                     "lr": optimizer.param_groups[0]["lr"]})
            state["epoch"] = epoch
            state["elapsed_s"], began = state["elapsed_s"] + time.perf_counter() - began, time.perf_counter()
            if state_path is not None and processes.main:
                _save_state(Path(state_path), model, optimizer, scheduler, rng, config, state)
            bar.update(task, status=f"val Dice {dice:.4f} (best {state['best']:.4f} @ {state['best_epoch']})")
    processes.unwrap(model)
    model.load_state_dict(state["best_state"])
    model.cpu().eval()
    if distill is not None:
        distill.teacher.to(teacher_device)
    return SegmentationResult(state["best_epoch"], float(state["best"]), state["epoch"] - start,
                              state["elapsed_s"] + time.perf_counter() - began, state["history"], start, stopped,
                              describe_device(device), processes.size)


def finetune_segmentation(model: nn.Module, dataset: SegmentationDataset, *, epochs: int | None, lr: float,
                          seed: int, accelerator: dict[str, Any], inference: Inference,
                          distill: VoxelDistillation | None, keep_start: bool, progress: bool) -> SegmentationResult:
    """Fine-tune a compressed segmentation network as `prune` and `compare` both do: the training loss (with the
    teacher's voxel-wise KL when distilling), the batch size of training, no early stopping, selection on validation
    mean Dice; DEFAULT_FINETUNE_EPOCHS when no epochs are given."""
    config = TrainConfig(epochs=DEFAULT_FINETUNE_EPOCHS if epochs is None else epochs, lr=lr, seed=seed, patience=0,
                         **accelerator)
    return fit_segmentation(model, dataset, config, progress=progress, inference=inference, distill=distill,
                            keep_start=keep_start)


def _save_state(path: Path, model, optimizer, scheduler, rng, config: TrainConfig, state: dict) -> None:
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "best_state": state["best_state"], "config": json.dumps(config.to_dict()),
               "progress": json.dumps({k: state[k] for k in ("epoch", "elapsed_s", "best", "best_epoch", "history")}),
               "torch_rng": torch.get_rng_state(), "numpy_rng": json.dumps(rng.bit_generator.state)}
    write_atomic(path, lambda tmp: torch.save(payload, tmp))


def _load_state(path: Path, model, optimizer, scheduler, rng, config: TrainConfig, state: dict) -> None:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file means the same to the user
        raise CheckpointError(f"{path} cannot be read ({type(err).__name__}): delete it and train again without "
                              "--resume") from None
    if resumable(json.loads(payload["config"])) != resumable(config.to_dict()):
        raise ConfigError(f"{path} was written with other training settings: resume with the same options, or start "
                          "a new run without --resume")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    state.update(json.loads(payload["progress"]), best_state=payload["best_state"])
    torch.set_rng_state(payload["torch_rng"])
    rng.bit_generator.state = json.loads(payload["numpy_rng"])
