"""How much of structured pruning's MACs reduction PyTorch turns into speed, timed the way the deployment issue
asks: each model in its own process (40 calls at batch 32 after warm-up), the processes of all models taking
turns, three alternations; the share is (dense ms / pruned ms) / (dense MACs / pruned MACs), from the median
of each model's per-process medians.

Three ways to serve a model in PyTorch, each against the dense model served the same way:
eager (the model as trained), folded (BatchNorm folded into the convolutions, channels-last; what
`medprune.deploy.inference.for_cpu_inference` returns) and TorchScript (`medprune export --format torchscript`:
folded, traced, frozen, optimized for inference when loaded). Two more columns compare best with best: the
faster eager-mode variant (as trained or folded) of each model, and the fastest variant of each model, the
comparison a team choosing a serving path would make.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/pytorch_speed.py --dense runs/bench/pneumonia-resnet18 \
        --pruned runs/prune/taylor-macs0.5 --pruned runs/prune/taylor-macs0.25 [--alternations 3] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _smoke import tiny_runs, workdir

VARIANTS = ("eager", "folded", "torchscript")


def time_one(model_path: str, variant: str, calls: int, batch: int) -> None:
    """Child process: print the median ms of `calls` forward passes of one model served one way."""
    import torch

    from medprune.deploy.inference import for_cpu_inference
    from medprune.models import load_checkpoint

    ckpt = load_checkpoint(model_path)
    model = ckpt.model.eval()
    if variant == "folded":
        model = for_cpu_inference(model)
    x = torch.randn(batch, *ckpt.input_shape)
    times = []
    with torch.no_grad():
        for _ in range(5):
            model(x)
        for _ in range(calls):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"ms": statistics.median(times)}))


def prepare(runs: dict[str, Path], workdir: Path) -> tuple[dict[tuple[str, str], str], dict[str, int]]:
    """The file each (model, variant) is loaded from, and each model's MACs."""
    from medprune import api
    from medprune.evaluation.efficiency import model_counts
    from medprune.deploy.export import export
    from medprune.models import load_checkpoint

    files, macs = {}, {}
    for name, run in runs.items():
        ckpt = load_checkpoint(run)
        macs[name] = model_counts(ckpt.model, tuple(ckpt.input_shape))[2]
        files[(name, "eager")] = files[(name, "folded")] = str(run)
        scripted = workdir / f"{name}.pt"
        export(ckpt, api.load_data_for(ckpt), scripted, format="torchscript")
        files[(name, "torchscript")] = str(scripted)
    return files, macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dense", type=Path)
    parser.add_argument("--pruned", type=Path, action="append")
    parser.add_argument("--alternations", type=int, default=3)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.child:
        time_one(args.child[0], args.child[1], args.calls, args.batch)
        return
    if args.smoke:
        args.dense, pruned = tiny_runs(workdir(None, "pytorch-speed"))
        args.pruned, args.alternations, args.calls, args.batch = [pruned], 1, 3, 4
    if args.dense is None or not args.pruned:
        parser.error("give --dense and at least one --pruned run")
    runs = {"dense": args.dense} | {f"pruned{i + 1}": p for i, p in enumerate(args.pruned)}
    with tempfile.TemporaryDirectory() as tmp:
        files, macs = prepare(runs, Path(tmp))
        ms: dict[tuple[str, str], list[float]] = {key: [] for key in files}
        for alternation in range(args.alternations):
            order = list(files) if alternation % 2 == 0 else list(reversed(list(files)))
            for key in order:
                out = subprocess.run([sys.executable, __file__, "--child", files[key], key[1], "--calls",
                                      str(args.calls), "--batch", str(args.batch)],
                                     capture_output=True, text=True, check=True)
                ms[key].append(json.loads(out.stdout.strip().splitlines()[-1])["ms"])
    median = {key: statistics.median(values) for key, values in ms.items()}
    print(f"batch {args.batch}, {args.calls} calls per process after warm-up, {args.alternations} alternations; "
          "median ms (range over processes)")
    for key, values in ms.items():
        print(f"  {key[0]:8s} {key[1]:12s} {median[key]:8.2f}  ({min(values):.2f}-{max(values):.2f})")
    fastest_dense = min(median[("dense", v)] for v in VARIANTS)
    eager_dense = min(median[("dense", v)] for v in ("eager", "folded"))
    print("\nshare of the MACs reduction turned into speed (>= 0.85 is the target):")
    for name in runs:
        if name == "dense":
            continue
        reduction = macs["dense"] / macs[name]
        shares = ", ".join(f"{v} {median[('dense', v)] / median[(name, v)] / reduction:.2f}" for v in VARIANTS)
        eager = eager_dense / min(median[(name, v)] for v in ("eager", "folded")) / reduction
        best = fastest_dense / min(median[(name, v)] for v in VARIANTS) / reduction
        print(f"  {name} ({runs[name]}): MACs reduced {reduction:.2f}x; {shares}; best eager vs best dense eager "
              f"{eager:.2f}; fastest vs fastest dense {best:.2f}")


if __name__ == "__main__":
    main()
