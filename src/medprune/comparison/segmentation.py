"""The comparison table of segmentation models: each row judged per structure on the same test cases (Dice, HD95,
the share of cases that lose Dice), with its size, cost per patch and latency per whole case in each runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medprune.comparison.measure import RUNTIMES, runnable_in
from medprune.comparison.recipe import Recipe, ValidationSettings
from medprune.data.segmentation import SegmentationDataset
from medprune.errors import ConfigError
from medprune.evaluation.efficiency import measure_latency_interleaved, model_counts, serialized_sizes
from medprune.models.checkpoint import Checkpoint
from medprune.records.comparison import REFERENCE_CELLS, EntryRecord, SegmentationRow
from medprune.records.validation import SegmentationValidation
from medprune.segmentation import parse_segmentation_margins, save_segmentation_validation
from medprune.segmentation import validate_segmentation
from medprune.segmentation.run import inference_of
from medprune.training.segmentation import Inference, predict_logits
from medprune.validation.segmentation import MIN_SEGMENTATION_CASES, SegmentationMargins, safety_cases_needed

# A recipe's validation settings that only a classifier's verdict reads.
CLASSIFIER_SETTINGS = ("metric", "endpoints", "candidate_threshold", "robustness")


def segmentation_margins(v: ValidationSettings) -> SegmentationMargins:
    """The recipe's `margins:` read as `medprune validate --margins` reads them for segmentation: a number is the
    Dice margin, a mapping names dice, hd95, dice_fall and fall_share; unset, the segmentation defaults."""
    given = sorted(set(CLASSIFIER_SETTINGS) & v.model_fields_set)
    if given:
        raise ConfigError(f"the recipe's validation sets {', '.join(given)}, which only a classifier's verdict reads: "
                          "a segmentation model is judged on Dice and HD95 per structure and the share of cases "
                          "that lose Dice; set their margins (margins: {dice: 0.02, hd95: 1}) and remove the rest")
    if "margins" not in v.model_fields_set:
        return SegmentationMargins()
    margins = v.margins if isinstance(v.margins, dict) else {"dice": v.margins}
    return parse_segmentation_margins(",".join(f"{name}={value}" for name, value in margins.items()))


class WholeCase(nn.Module):
    """A model run on a whole case by its sliding windows, as deployed: what a latency per case times."""

    def __init__(self, model: nn.Module, inference: Inference) -> None:
        super().__init__()
        self.model, self.inference = model, inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return predict_logits(self.model, x, self.inference)  # under no_grad


def case_latencies(models: dict[str, dict[str, Checkpoint]], input_shape: tuple[int, ...],
                   repeats: int) -> dict[str, dict[str, dict[str, float]]]:
    """{row: {runtime: {"case": ms}}}: one case (batch 1) through each model's own sliding windows, every model
    and runtime timed in one interleaved run."""
    keyed = {f"{row}\x00{runtime}": WholeCase(ckpt.model, inference_of(ckpt))
             for row, by_runtime in models.items() for runtime, ckpt in by_runtime.items()}
    out: dict[str, dict[str, dict[str, float]]] = {row: {} for row in models}
    for key, ms in measure_latency_interleaved(keyed, input_shape, 1, repeats=repeats).items():
        row, runtime = key.split("\x00")
        out[row][runtime] = {"case": ms}
    return out


def structure_means(cases: dict[str, list[Any]], metric: str) -> dict[str, float]:
    """The mean over test cases of `metric` for each structure, from a validation record's per-case block."""
    values = np.asarray(cases[metric], dtype=float)
    return {name: float(values[:, k].mean()) for k, name in enumerate(cases["structures"])}


def judge_rows(reference: Checkpoint, models: dict[str, Checkpoint], dataset: SegmentationDataset,
               recipe: Recipe, out: Path) -> SegmentationValidation:
    """validate's judgement of every row against the reference (Holm across rows, every endpoint within each
    subgroup the recipe's data name), written to `out`."""
    v = recipe.validation
    min_cases = v.min_cases_per_class if "min_cases_per_class" in v.model_fields_set else MIN_SEGMENTATION_CASES
    subgroups = None if isinstance(recipe.data, str) else recipe.data.subgroups
    record, predictions = validate_segmentation(
        reference, list(models.values()), list(models), dataset, margins=segmentation_margins(v), alpha=v.alpha,
        n_resamples=v.n_resamples, seed=recipe.budget.seed, min_cases=min_cases, subgroups=subgroups)
    save_segmentation_validation(record, predictions, dataset, out)
    return record


def too_few(validation: SegmentationValidation, alpha: float) -> list[str]:
    """What the test cases are too few to show, for every row alike: any verdict at all, or the safety endpoint."""
    n, m = len(validation.reference.cases["dice"]), validation.protocol.segmentation_margins
    said = [validation.too_few_cases] if validation.too_few_cases else []
    needed = safety_cases_needed(m["fall_share"], alpha)
    if n < needed:
        said.append(f"no row can pass the safety endpoint on {n} test cases: even one on which no case loses "
                    f"{m['dice_fall']:g} Dice cannot be shown to keep that share under {m['fall_share']:g}; it needs "
                    f"at least {needed} test cases, or a wider fall_share fixed before testing")
    return said


def segmentation_rows(reference: Checkpoint, results: list[EntryRecord], models: dict[str, Checkpoint],
                      dataset: SegmentationDataset, recipe: Recipe, validation: SegmentationValidation,
                      onnx_dir: Path) -> list[SegmentationRow]:
    """The table: the reference first, then each technique with its verdict; latencies measured side by side."""
    everything = {"reference": reference, **models}
    runnable = {name: runnable_in(ckpt, dataset, onnx_dir / name) for name, ckpt in everything.items()}
    timing = case_latencies(runnable, tuple(dataset.input_shape), recipe.measure.latency_repeats)
    scored = {"reference": (validation.reference.cases, {}),
              **{c.name: (c.cases, c.model_dump(include={"verdict", "verdict_reason", "failed_endpoints"}))
                 for c in validation.candidates}}
    made = {"reference": REFERENCE_CELLS, **{r.name: r.row_cells() for r in results}}
    rows = []
    for name, ckpt in everything.items():
        params, _, macs = model_counts(ckpt.model, (dataset.input_shape[0], *inference_of(ckpt).patch_size))
        size, size_gz = serialized_sizes(ckpt.model, ckpt.path)
        latency = {runtime: timing[name].get(runtime) for runtime in RUNTIMES}
        cases, verdict = scored[name]
        rows.append({**made[name], "params": params, "macs": macs, "size_bytes": size, "size_gzip_bytes": size_gz,
                     "latency_ms": latency, "dice": structure_means(cases, "dice"),
                     "hd95": structure_means(cases, "hd95"),
                     "fastest_case_ms": min(t["case"] for t in latency.values() if t), **verdict})
    base = rows[0]["latency_ms"]["pytorch"]["case"]
    for row in rows:
        row["speedup_case_vs_reference_pytorch"] = base / row["fastest_case_ms"]
        row["size_gzip_ratio"] = rows[0]["size_gzip_bytes"] / row["size_gzip_bytes"]
    return [SegmentationRow.model_validate(row) for row in rows]
