"""Run directories of segmentation models: train into one, evaluate one on its test split.

metrics.json holds per-structure means and, per test case (by index, never by file name), Dice, HD95, normalised
surface Dice and volumes, with the efficiency of the model per sliding-window patch and per whole case.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medprune.errors import DataError
from medprune.data.segmentation import SegmentationDataset
from medprune.evaluation.efficiency import (latency_device_for, measure_peak_memory, median_call_ms, model_counts,
                                           serialized_sizes)
from medprune.evaluation.segmentation import NSD_TOLERANCE_MM, score_cases
from medprune.models import Checkpoint, create_model, make_spec, save_checkpoint
from medprune.models.checkpoint import runtime_of
from medprune.records.segmentation_metrics import Conventions, Efficiency, Latency, SegmentationMetrics
from medprune.hardware.device import describe_device, on, on_cpu
from medprune.hardware.distributed import launched_rank
from medprune.training import TrainConfig
from medprune.training.run_files import STATE_FILE, write_training_files
from medprune.training.segmentation import (Inference, choose_postprocessing, fit_segmentation, predict_logits,
                                           predict_masks, segmentation_defaults)


def inference_of(checkpoint: Checkpoint) -> Inference:
    return Inference.recorded(checkpoint.spec.inference, checkpoint.input_shape)


def _latency(checkpoint: Checkpoint, dataset: SegmentationDataset, inference: Inference, repeats: int,
             device: torch.device) -> Latency:
    """Median ms for one whole case (sliding windows) and for one patch, batch 1, after a warm-up, on `device`
    (the deployment target: the CPU unless told otherwise)."""
    model = on(checkpoint.model, device).eval()
    case = torch.from_numpy(dataset.split("test").x[:1]).to(device)
    patch = torch.zeros(1, dataset.input_shape[0], *inference.patch_size, device=device)

    def median_ms(run) -> float:
        return median_call_ms(run, device, warmup=1, repeats=max(1, repeats))

    with torch.no_grad():
        return Latency(per_case_ms=median_ms(lambda: predict_logits(model, case, inference)),
                       per_patch_ms=median_ms(lambda: model(patch)), threads=torch.get_num_threads(), repeats=repeats,
                       device=describe_device(device))


def evaluate_segmentation(checkpoint: Checkpoint, dataset: SegmentationDataset, *, split: str = "test",
                          latency_repeats: int = 5, latency_device: str = "cpu") -> SegmentationMetrics:
    """Per-case and per-structure metrics of a segmentation model on `split`, and its efficiency."""
    inference = inference_of(checkpoint)
    cases = dataset.split(split)
    preds = predict_masks(checkpoint.model, cases, inference)
    metrics = score_cases(preds, [cases.case(i)[1] for i in range(len(cases))], cases.spacing, dataset.structures)
    per_structure = metrics.summary()
    model = checkpoint.model
    params, nonzero, macs = model_counts(model, (dataset.input_shape[0], *inference.patch_size))
    size, size_gz = serialized_sizes(model, checkpoint.path)
    efficiency = Efficiency(
        params=params, nonzero_params=nonzero, macs_per_patch=macs, size_bytes=size, size_gzip_bytes=size_gz,
        latency=_latency(checkpoint, dataset, inference, latency_repeats,
                         latency_device_for(model, latency_device)), runtime=runtime_of(model),
        peak_memory_bytes=measure_peak_memory(on_cpu(model), (dataset.input_shape[0], *inference.patch_size), 1)
        if runtime_of(model) == "pytorch" else -1)
    return SegmentationMetrics(
        split=split, n_cases=len(cases), structures=dataset.structures,
        mean_dice=float(np.mean([s["dice"] for s in per_structure.values()])), per_structure=per_structure,
        conventions=Conventions(nsd_tolerance_mm=NSD_TOLERANCE_MM,
                                spacing_unit=dataset.preprocessing.get("spacing_unit", "mm")),
        cases=metrics.to_dict(), inference=inference.to_dict(), efficiency=efficiency, data=dataset.describe(),
        model=checkpoint.spec.model.model_dump())


def render_segmentation_summary(record: SegmentationMetrics) -> str:
    conventions, unit, latency = record.conventions, record.conventions.spacing_unit, record.efficiency.latency
    lines = [f"# {record.model['name']} on {record.data['name']}: {record.split} split ({record.n_cases} cases)", "",
             f"| structure | Dice | HD95 ({unit}) | NSD @ {conventions.nsd_tolerance_mm:g} {unit} | "
             f"volume error ({conventions.volume_unit}) |", "|---|---|---|---|---|"]
    for name, s in record.per_structure.items():
        lines.append(f"| {name} | {s.dice:.4f} | {s.hd95_mm:.2f} | {s.nsd:.4f} | {s.volume_error_ml:+.3f} |")
    lines += ["", f"Mean Dice over structures: {record.mean_dice:.4f}. Latency ({latency.device}, {latency.threads} "
              f"threads, batch 1): {latency.per_case_ms:.1f} ms per case, {latency.per_patch_ms:.1f} ms per patch "
              f"{tuple(record.inference['patch_size'])}. Empty masks: {conventions.empty_masks}.", ""]
    kept = [f"{record.structures[int(k) - 1]} ({n})" for k, n in record.inference.get("keep_largest", {}).items()]
    if kept:
        lines.insert(-1, f"Only the largest connected components kept, chosen on the validation split: "
                         f"{', '.join(kept)}.")
    return "\n".join(lines)


def train_segmentation(dataset: SegmentationDataset, model: str, config: TrainConfig, out: Path, *,
                       resume: bool = False, overwrite: bool = False, progress: bool = True,
                       model_kwargs: dict | None = None, latency_repeats: int = 5,
                       prepare_out: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Train a segmentation network into the run directory `out` (made ready by `prepare_out` once the settings
    are checked); the metrics record of its test split."""
    config.check()
    config = segmentation_defaults(config, dataset)  # the run records the batch and epochs it trained with
    inference = Inference.for_data(dataset)
    spec = make_spec(model, input_shape=dataset.input_shape, class_names=dataset.class_names, modality="image",
                     task="segmentation", kwargs=model_kwargs, preprocessing=dataset.preprocessing,
                     data=dataset.source, data_md5=dataset.checksum)
    spec.inference = inference.to_dict()
    torch.manual_seed(config.seed)
    net = create_model(model, input_shape=dataset.input_shape, n_classes=dataset.n_classes, task="segmentation",
                       **(model_kwargs or {}))
    main = launched_rank() == 0  # under torchrun every process trains; one writes the run
    if main:
        prepare_out()
    result = fit_segmentation(net, dataset, config, state_path=out / STATE_FILE, resume=resume, progress=progress,
                              inference=inference)
    if not main:
        return {}
    spec.inference = choose_postprocessing(net, dataset, inference).to_dict()
    spec.training = {"config": config.to_dict(), "best_epoch": result.best_epoch,
                     "best_val_dice": result.best_val_dice}
    save_checkpoint(out / "model.pt", net, spec)
    record = evaluate_segmentation(Checkpoint(net, spec, out / "model.pt"), dataset, latency_repeats=latency_repeats)
    record.training = {"config": config.to_dict(), "result": result.to_dict()}
    write_training_files(out, record.to_json_dict(), result.history, render_segmentation_summary(record), STATE_FILE)
    return record.to_json_dict()


def check_segmentation_model(checkpoint: Checkpoint, dataset: SegmentationDataset) -> None:
    """A classifier, or a segmentation model of other structures or channels, cannot be judged on this data."""
    if checkpoint.spec.task != "segmentation":
        raise DataError(f"{checkpoint.path} is a classifier but {dataset.name} is segmentation data: pass a "
                        "segmentation model (medprune train --model unet on this data)")
    if checkpoint.class_names != dataset.class_names or checkpoint.input_shape[0] != dataset.input_shape[0]:
        raise DataError(f"{checkpoint.path} segments {', '.join(checkpoint.class_names[1:])} from "
                        f"{checkpoint.input_shape[0]}-channel inputs but {dataset.name} has "
                        f"{', '.join(dataset.structures)} with {dataset.input_shape[0]}: pass the data it was "
                        "trained on")
