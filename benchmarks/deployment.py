"""Deployment: dense fp32 PyTorch against ONNX Runtime fp32 and int8 (static and dynamic), pruned and not.

Every model runs in turn within each repeat (interleaved), same inputs, same threads; the ratios are
what this script is for. Also prints file sizes and their ratios, int8 agreement with fp32, test AUROC,
and the non-inferiority verdict of the pruned int8 model against the dense one (AUROC, margin 0.01).

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/deployment.py --dense runs/bench/pneumonia-resnet18 \
        --pruned runs/bench-pruning/pneumoniamnist-resnet18/taylor_structured_macs0.25 [--out runs/deployment]
"""

from __future__ import annotations

import argparse
import gzip
import os
from pathlib import Path

import torch

from medprune import api
from medprune.evaluation import evaluate
from medprune.evaluation.efficiency import measure_latency_interleaved
from medprune.export import export
from medprune.models import load_checkpoint
from medprune.validation import Protocol


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dense", type=Path, required=True)
    parser.add_argument("--pruned", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/deployment"))
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    dense, pruned = load_checkpoint(args.dense), load_checkpoint(args.pruned)
    dataset = api.load_data_for(dense)
    files = {"dense fp32 ONNX": args.out / "dense.onnx", "pruned fp32 ONNX": args.out / "pruned.onnx",
             "pruned int8 ONNX": args.out / "pruned-int8.onnx", "dense int8 ONNX": args.out / "dense-int8.onnx",
             "pruned int8-dyn ONNX": args.out / "pruned-int8-dynamic.onnx"}
    export(dense, dataset, files["dense fp32 ONNX"])
    export(pruned, dataset, files["pruned fp32 ONNX"])
    int8 = export(pruned, dataset, files["pruned int8 ONNX"], int8=True)
    export(dense, dataset, files["dense int8 ONNX"], int8=True)
    export(pruned, dataset, files["pruned int8-dyn ONNX"], int8=True, dynamic=True)
    models = {"dense fp32 PyTorch": dense, "pruned fp32 PyTorch": pruned,
              **{k: load_checkpoint(p) for k, p in files.items()}}
    shape = tuple(dataset.input_shape)
    print(f"threads: torch {torch.get_num_threads()}, MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_')}"
          f", NCHW float32 inputs, median of {args.repeats} interleaved runs after 3 warm-up")
    lat = {b: measure_latency_interleaved({k: m.model for k, m in models.items()}, shape, b, repeats=args.repeats)
           for b in (1, 32)}
    base = "dense fp32 PyTorch"
    base_size = dense.path.stat().st_size
    print(f"{'model':22s} {'AUROC':>7s} {'size':>11s} {'gzip':>11s} {'x smaller':>9s} {'b1 ms':>8s} {'b32 ms':>8s} "
          f"{'x b1':>6s} {'x b32':>6s}")
    for key, ckpt in models.items():
        data = ckpt.path.read_bytes()
        auroc = evaluate(ckpt, dataset, threshold=dense.threshold, with_efficiency=False).auroc
        print(f"{key:22s} {auroc:7.4f} {len(data):11,d} {len(gzip.compress(data)):11,d} {base_size / len(data):9.2f} "
              f"{lat[1][key]:8.2f} {lat[32][key]:8.2f} {lat[1][base] / lat[1][key]:6.2f} "
              f"{lat[32][base] / lat[32][key]:6.2f}")
    print(f"int8 vs fp32 (pruned): agreement {int8.agreement:.4f}, AUROC {int8.auroc_fp32:.4f} -> {int8.auroc_int8:.4f}")
    shipped = models["pruned int8 ONNX"]
    record = api.validate(dense, [shipped], dataset, Protocol(metric="auroc", margin=0.01), args.out / "validation")
    verdict = record["candidates"][0]
    print(f"pruned int8 ONNX against dense fp32 PyTorch: {lat[32][base] / lat[32]['pruned int8 ONNX']:.1f}x faster at "
          f"batch 32, {base_size / shipped.path.stat().st_size:.1f}x smaller on disk, {verdict['verdict']} on AUROC "
          f"(margin 0.01) with sensitivity and specificity at the dense threshold (margin 0.05): " + ", ".join(
              f"{n} {e['delta']:+.4f} ({e['ci_low']:+.4f} to {e['ci_high']:+.4f})" for n, e in verdict["endpoints"].items()))
    if verdict["verdict"] != "non-inferior":
        print(f"why: {verdict['verdict_reason']}")


if __name__ == "__main__":
    main()
