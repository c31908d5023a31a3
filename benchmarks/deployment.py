"""Deployment: every runtime medprune ships to, dense and pruned, side by side in one run.

For the dense model and each pruned one: PyTorch eager fp32 (as trained, and with BatchNorm folded and channels-
last), the TorchScript export (folded, frozen, optimized for inference when loaded), ONNX Runtime fp32 and int8
(static QDQ), and OpenVINO fp32 and int8 (NNCF post-training quantization). The NNCF int8 dense model on
OpenVINO is the anchor row: what a team would deploy without medprune. Timing: batch 1 and 32, all runtimes in
one process with the torch / ONNX Runtime / OpenVINO defaults for this machine's cores, timed in alternating
blocks of consecutive calls (never one call each in turn: thread pools that spin after a call slow the next
runtime); median per model. Every row is validated against the dense PyTorch model on every co-primary endpoint
(AUROC margin 0.01, sensitivity and specificity at the dense threshold, margin 0.05; Holm across rows). Also
prints how much of each pruned model's MACs reduction each fp32 runtime turns into speed.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/deployment.py --dense runs/bench/pneumonia-resnet18 \
        --pruned runs/bench-pruning/pneumoniamnist-resnet18/taylor_structured_macs0.25 [--out runs/deployment] [--smoke]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from medprune import api
from medprune.evaluation import evaluate
from medprune.evaluation.efficiency import measure_latency_interleaved, model_counts
from medprune.deploy.export import export
from medprune.deploy.inference import for_cpu_inference
from medprune.models import Checkpoint, load_checkpoint
from medprune.validation import Protocol

from _smoke import tiny_runs, workdir

VARIANTS = {  # name: (format, int8)
    "PyTorch fp32": None,
    "PyTorch fp32 folded": "folded",  # BatchNorm folded into the convolutions, channels-last
    "PyTorch TorchScript": ("torchscript", False),  # folded, frozen, optimize_for_inference when loaded
    "ORT fp32": ("onnx", False),
    "ORT int8": ("onnx", True),
    "OpenVINO fp32": ("openvino", False),
    "OpenVINO int8 (NNCF)": ("openvino", True),
}
ANCHOR = "dense OpenVINO int8 (NNCF)"
BASE = "dense PyTorch fp32"


def artefacts(name: str, run: Path, dataset, out: Path) -> dict[str, object]:
    """Every variant of one model, exported and verified."""
    rows = {}
    for variant, how in VARIANTS.items():
        if how is None:
            rows[f"{name} {variant}"] = load_checkpoint(run)
            continue
        if how == "folded":
            plain = load_checkpoint(run)
            rows[f"{name} {variant}"] = Checkpoint(for_cpu_inference(plain.model), plain.spec, plain.path)
            continue
        fmt, int8 = how
        suffix = {"openvino": ".xml", "onnx": ".onnx", "torchscript": ".pt"}[fmt]
        path = out / f"{name}-{variant.split()[0].lower()}-{'int8' if int8 else 'fp32'}{suffix}"
        export(load_checkpoint(run), dataset, path, format=fmt, int8=int8)
        rows[f"{name} {variant}"] = load_checkpoint(path)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dense", type=Path)
    parser.add_argument("--pruned", type=Path, action="append", help="a pruned run (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs/deployment"))
    parser.add_argument("--calls", type=int, default=60, help="timed calls per model and batch size")
    parser.add_argument("--rounds", type=int, default=3, help="alternating blocks the calls are split into")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.out = workdir(None, "deployment")
        dense, pruned = tiny_runs(args.out)
        args.dense, args.pruned, args.calls, args.rounds = dense, [pruned], 2, 1
    if args.dense is None or not args.pruned:
        parser.error("give --dense and at least one --pruned run (or --smoke)")
    args.out.mkdir(parents=True, exist_ok=True)
    dense = load_checkpoint(args.dense)
    dataset = api.load_data_for(dense)
    shape = tuple(dataset.input_shape)
    names = {"dense": args.dense} | {f"pruned{i + 1}": p for i, p in enumerate(args.pruned)}
    models = {}
    for name, run in names.items():
        models.update(artefacts(name, run, dataset, args.out))
    print(f"threads: torch {torch.get_num_threads()}, ONNX Runtime and OpenVINO defaults ({os.cpu_count()} cores); "
          f"batch 1 and 32, median of {args.calls} calls per model in {args.rounds} alternating blocks, NCHW float32")
    lat = {b: measure_latency_interleaved({k: m.model for k, m in models.items()}, shape, b, repeats=args.calls,
                                          rounds=args.rounds) for b in (1, 32)}
    candidates = [m for k, m in models.items() if k != BASE]
    record = api.validate(dense, candidates, dataset, Protocol(metric="auroc", margin=0.01), args.out / "validation")
    verdicts = dict(zip([k for k in models if k != BASE], record["candidates"]))
    dense_size = dense.path.stat().st_size
    dense_macs = model_counts(dense.model, shape)[2]
    print(f"{'model':34s} {'MACs x':>6s} {'AUROC':>7s} {'b1 ms':>7s} {'b32 ms':>7s} {'x PyTorch':>9s} {'x anchor':>8s} "
          f"{'bytes':>11s} {'x smaller':>9s}  verdict vs dense PyTorch")
    rows = []
    for key, ckpt in models.items():
        auroc = evaluate(ckpt, dataset, threshold=dense.threshold, with_efficiency=False).auroc
        size = ckpt.path.stat().st_size + (ckpt.path.with_suffix(".bin").stat().st_size
                                           if ckpt.path.suffix == ".xml" else 0)
        macs = model_counts(ckpt.model, shape)[2]
        verdict = verdicts.get(key)
        why = "" if verdict is None else verdict["verdict"] + (
            "" if verdict["verdict"] == "non-inferior" else f" ({', '.join(verdict.get('failed_endpoints') or ['Holm'])})")
        row = {"model": key, "macs_ratio": macs / dense_macs, "auroc": auroc, "b1": lat[1][key], "b32": lat[32][key],
               "size": size, "verdict": verdict["verdict"] if verdict else "reference"}
        rows.append(row)
        print(f"{key:34s} {row['macs_ratio']:6.3f} {auroc:7.4f} {row['b1']:7.2f} {row['b32']:7.2f} "
              f"{lat[32][BASE] / row['b32']:9.1f} {lat[32][ANCHOR] / row['b32']:8.2f} {size:11,d} "
              f"{dense_size / size:9.1f}  {why or 'reference'}", flush=True)
    print("\nShare of the MACs reduction turned into speed at batch 32 (speed-up / MACs reduction), fp32:")
    for name in names:
        if name == "dense":
            continue
        ratio = dense_macs / model_counts(models[f"{name} PyTorch fp32"].model, shape)[2]
        shares = {rt: (lat[32][f"dense {rt}"] / lat[32][f"{name} {rt}"]) / ratio
                  for rt in ("PyTorch fp32", "PyTorch fp32 folded", "PyTorch TorchScript", "ORT fp32", "OpenVINO fp32")}
        print(f"  {name} ({names[name]}): MACs reduced {ratio:.2f}x; " +
              ", ".join(f"{rt} {share:.2f}" for rt, share in shares.items()))
    fastest = min((r for r in rows if r["verdict"] == "non-inferior"), key=lambda r: r["b32"], default=None)
    if fastest is None:
        print("\nno row is non-inferior to the dense model on every co-primary endpoint")
        return
    print(f"\nfastest non-inferior artefact: {fastest['model']}: {lat[32][BASE] / fastest['b32']:.1f}x faster than "
          f"dense PyTorch fp32 at batch 32 (target 20), {lat[32][ANCHOR] / fastest['b32']:.2f}x faster than the NNCF "
          f"int8 dense model on OpenVINO (target 2), {dense_size / fastest['size']:.1f}x smaller than the dense "
          "checkpoint (target 25)")


if __name__ == "__main__":
    main()
