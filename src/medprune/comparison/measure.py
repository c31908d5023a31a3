"""Measure every model of a comparison the same way, in the same run.

Each PyTorch model is also exported to fp32 ONNX so that it is timed in both runtimes; int8 models
run only in ONNX Runtime. All latencies come from one interleaved measurement (every model runs in
turn within each repeat), so machine noise falls on all of them alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medprune.data.dataset import Dataset
from medprune.evaluation.bootstrap import macro_auroc, percentile_ci, stratified_counts
from medprune.evaluation.efficiency import measure_latency_interleaved, model_counts, serialized_sizes
from medprune.evaluation.evaluate import compute_classification_metrics
from medprune.evaluation.predict import positive_or_all, predict_proba
from medprune.deploy.export import export
from medprune.models.checkpoint import Checkpoint, load_checkpoint, runtime_of


RUNTIMES = ("pytorch", "onnxruntime", "openvino")


def exported_twins(checkpoint: Checkpoint, dataset: Dataset, folder: Path) -> dict[str, Checkpoint]:
    """The fp32 ONNX and OpenVINO exports of a PyTorch model (each verified against it), to time it in ONNX
    Runtime and OpenVINO."""
    export(checkpoint, dataset, folder / "model-fp32.onnx")
    export(checkpoint, dataset, folder / "model-fp32.xml", format="openvino")
    return {"onnxruntime": load_checkpoint(folder / "model-fp32.onnx"),
            "openvino": load_checkpoint(folder / "model-fp32.xml")}


def runnable_in(checkpoint: Checkpoint, dataset: Dataset, folder: Path) -> dict[str, Checkpoint]:
    """The model in each runtime it is timed in: a PyTorch model also as its fp32 ONNX and OpenVINO twins (written
    into `folder`), TorchScript in PyTorch, an exported model in its own runtime."""
    runtime = runtime_of(checkpoint.model)
    if runtime == "pytorch":
        return {"pytorch": checkpoint, **exported_twins(checkpoint, dataset, _mkdir(folder))}
    return {"pytorch" if runtime == "torchscript" else runtime: checkpoint}


def latencies(models: dict[str, dict[str, Checkpoint]], input_shape: tuple[int, ...], repeats: int) -> dict:
    """{row: {runtime: {batchB: ms}}} from one interleaved run per batch size."""
    flat = {(row, runtime): ckpt.model for row, by_runtime in models.items() for runtime, ckpt in by_runtime.items()}
    keyed = {f"{row}\x00{runtime}": m for (row, runtime), m in flat.items()}
    out: dict[str, dict[str, dict[str, float]]] = {row: {} for row in models}
    for batch in ((1, 8, 32) if len(input_shape) == 4 else (1, 32)):  # volumes: batch 8 as well
        for key, ms in measure_latency_interleaved(keyed, input_shape, batch, repeats=repeats).items():
            row, runtime = key.split("\x00")
            out[row].setdefault(runtime, {})[f"batch{batch}"] = ms
    return out


def clinical_figures(checkpoint: Checkpoint, dataset: Dataset, threshold: float | None, counts: np.ndarray,
                     alpha: float) -> dict[str, Any]:
    """Test AUROC with its bootstrap CI, and sensitivity, specificity and ECE at the reference threshold."""
    test = dataset.split("test")
    probs = predict_proba(checkpoint.model, test, dataset.preprocessing)
    metrics = compute_classification_metrics(test.y, probs, threshold)
    low, high = percentile_ci(macro_auroc(test.y, positive_or_all(probs), counts), alpha)
    return {"auroc": metrics["auroc"], "auroc_ci": [low, high], "sensitivity": metrics["sensitivity"],
            "specificity": metrics["specificity"], "ece": metrics["ece"]}


def measure_rows(rows: dict[str, Checkpoint], dataset: Dataset, threshold: float | None, *, repeats: int,
                 resamples: int, alpha: float, onnx_dir: Path, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Size, cost, latency (PyTorch, ONNX Runtime and OpenVINO, batch 1 and 32, and 8 for volumes) and clinical
    figures of every row.

    The fp32 ONNX and OpenVINO twins of PyTorch rows are written under `onnx_dir` (inside the comparison's
    output), never beside the user's own models; an exported row runs in its own runtime only.
    """
    shape = tuple(dataset.input_shape)
    runnable = {name: runnable_in(ckpt, dataset, onnx_dir / name) for name, ckpt in rows.items()}
    timing = latencies(runnable, shape, repeats)
    counts = stratified_counts(dataset.split("test").y, resamples, seed)
    out = {}
    for name, ckpt in rows.items():
        params, nonzero, macs = model_counts(ckpt.model, shape)
        size, size_gz = serialized_sizes(ckpt.model, ckpt.path)
        out[name] = {"params": params, "nonzero_params": nonzero, "macs": macs, "size_bytes": size,
                     "size_gzip_bytes": size_gz, "format": _format(ckpt),
                     "latency_ms": {rt: timing[name].get(rt) for rt in RUNTIMES},
                     **clinical_figures(ckpt, dataset, threshold, counts, alpha)}
    return out


def _format(checkpoint: Checkpoint) -> str:
    runtime = runtime_of(checkpoint.model)
    return {"onnxruntime": "onnx-int8", "openvino": "openvino-int8"}.get(runtime, runtime)


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder
