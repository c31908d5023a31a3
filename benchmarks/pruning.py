"""Every medprune criterion against the two anchors, same fine-tuning budget, one run, real data.

Anchors: `torch.nn.utils.prune.global_unstructured` with L1 (unstructured) and Torch-Pruning's
`MagnitudeImportance` with its default settings (structured, pruning ratio searched to the same
MACs as the medprune rows). Latency is measured at the end for all models of a dataset/model pair,
interleaved (dense, pruned, dense, ...) so machine noise hits every row alike.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/pruning.py [--datasets pneumoniamnist]
        [--models resnet18] [--criteria taylor magnitude] [--finetune-epochs 3] [--out runs/bench-pruning] [--smoke]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch

from medprune import api
from medprune.evaluation import evaluate
from medprune.evaluation.efficiency import (count_macs, count_params, measure_latency_interleaved,
                                            serialized_sizes)
from medprune.models import Checkpoint, load_checkpoint, save_checkpoint
from medprune.pruning import CRITERIA, PruneSettings
from medprune.pruning.groups import classifier_layers
from medprune.training import TrainConfig, fit

from _smoke import synthetic_npz, workdir

DENSE_RECIPES = {"resnet18": TrainConfig(epochs=12), "smallcnn": TrainConfig(epochs=15)}
CONFIGS = [("structured", "macs=0.5"), ("structured", "macs=0.25"), ("unstructured", "sparsity=0.9")]


def dense_model(dataset, model: str, root: Path, epochs: int | None = None) -> Checkpoint:
    run = root / f"{dataset.name}-{model}-dense"
    if not (run / "model.pt").exists():
        config = DENSE_RECIPES[model] if dataset.name == "pneumoniamnist" else TrainConfig(epochs=30, batch_size=64)
        config = config if epochs is None else TrainConfig(epochs=epochs, batch_size=16)
        api.train(dataset, model, config, run, overwrite=True, progress=False)
    return load_checkpoint(run)


def finetune(model, dataset, epochs: int, lr: float) -> None:
    fit(model, dataset, TrainConfig(epochs=epochs, lr=lr), progress=False)


def save_anchor(model, dense: Checkpoint, out: Path, label: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    spec = dense.spec.for_new_weights(pruning={"anchor": label})
    save_checkpoint(out / "model.pt", model, spec)


def anchor_torch_global_l1(dense: Checkpoint, dataset, out: Path, epochs: int, lr: float) -> None:
    from torch.nn.utils import prune

    model = copy.deepcopy(dense.model)
    layers = [(m, "weight") for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=0.9)
    finetune(model, dataset, epochs, lr)
    for m, name in layers:
        prune.remove(m, name)
    save_anchor(model, dense, out, "torch.nn.utils.prune.global_unstructured L1, amount 0.9")


def anchor_tp_magnitude(dense: Checkpoint, dataset, out: Path, macs_target: float, epochs: int, lr: float) -> None:
    import torch_pruning as tp

    shape = tuple(dataset.input_shape)
    dense_macs = count_macs(dense.model, shape)

    def pruned_at(ratio: float):
        model = copy.deepcopy(dense.model)
        pruner = tp.pruner.MetaPruner(model, torch.zeros(1, *shape), importance=tp.importance.MagnitudeImportance(),
                                      pruning_ratio=ratio, ignored_layers=classifier_layers(model, dataset.n_classes))
        pruner.step()
        return model

    lo, hi, best = 0.0, 0.95, None
    for _ in range(10):  # Torch-Pruning takes a channel ratio: search the one giving the same MACs
        mid = (lo + hi) / 2
        candidate = pruned_at(mid)
        if count_macs(candidate, shape) / dense_macs <= macs_target:
            best, hi = candidate, mid
        else:
            lo = mid
    finetune(best, dataset, epochs, lr)
    save_anchor(best, dense, out, f"Torch-Pruning MagnitudeImportance defaults, ratio {hi:.3f}")


def run_pair(dataset, model_name: str, criteria: list[str], epochs: int, root: Path,
             dense_epochs: int | None = None) -> list[dict]:
    dense = dense_model(dataset, model_name, root, dense_epochs)
    base = root / f"{dataset.name}-{model_name}"
    runs = {"dense": dense.path.parent}
    for granularity, target in CONFIGS:
        for criterion in criteria:
            key = f"{criterion} {granularity} {target}"
            out = base / key.replace(" ", "_").replace("=", "")
            if not (out / "metrics.json").exists():
                settings = PruneSettings(criterion=criterion, structured=granularity == "structured", target=target,
                                         finetune_epochs=epochs)
                began = time.perf_counter()
                api.prune(dense, dataset, settings, out, overwrite=True, progress=False, latency_repeats=1)
                print(f"  {key}: {time.perf_counter() - began:.0f} s", flush=True)
            runs[key] = out
    for target in ("macs=0.5", "macs=0.25"):
        out = base / f"anchor_tp-magnitude_{target.replace('=', '')}"
        if not (out / "model.pt").exists():
            anchor_tp_magnitude(dense, dataset, out, float(target.split("=")[1]), epochs, 5e-4)
        runs[f"tp-magnitude structured {target}"] = out
    out = base / "anchor_torch-global-l1_sparsity0.9"
    if not (out / "model.pt").exists():
        anchor_torch_global_l1(dense, dataset, out, epochs, 5e-4)
    runs["torch-global-l1 unstructured sparsity=0.9"] = out
    return measure(dataset, dense, runs, repeats=15 if dense_epochs is None else 2)


def measure(dataset, dense: Checkpoint, runs: dict[str, Path], repeats: int = 15) -> list[dict]:
    shape = tuple(dataset.input_shape)
    loaded = {k: load_checkpoint(p) for k, p in runs.items()}
    lat1 = measure_latency_interleaved({k: c.model for k, c in loaded.items()}, shape, 1, repeats=repeats)
    lat32 = measure_latency_interleaved({k: c.model for k, c in loaded.items()}, shape, 32, repeats=repeats)
    reference = evaluate(dense, dataset, threshold=dense.threshold, with_efficiency=False)
    rows = []
    for key, ckpt in loaded.items():
        result = evaluate(ckpt, dataset, threshold=dense.threshold, with_efficiency=False)
        params, nonzero = count_params(ckpt.model)
        size, size_gz = serialized_sizes(ckpt.model, ckpt.path)
        rows.append({"dataset": dataset.name, "model": dense.name, "row": key, "test_auroc": result.auroc,
                     "delta_auroc": result.auroc - reference.auroc, "sensitivity": result.sensitivity,
                     "specificity": result.specificity, "params": params, "nonzero_params": nonzero,
                     "macs": count_macs(ckpt.model, shape), "size_gzip_bytes": size_gz, "size_bytes": size,
                     "latency_ms_batch1": lat1[key], "latency_ms_batch32": lat32[key],
                     "speedup_batch1": lat1["dense"] / lat1[key], "speedup_batch32": lat32["dense"] / lat32[key]})
    return rows


def print_table(rows: list[dict]) -> None:
    dense = {(r["dataset"], r["model"]): r for r in rows if r["row"] == "dense"}
    print(f"{'dataset':15s} {'model':9s} {'row':46s} {'AUROC':>6s} {'delta':>7s} {'sens':>5s} {'params':>10s} "
          f"{'MACs':>12s} {'gzip':>7s} {'gz x':>6s} {'b1 ms':>7s} {'b32 ms':>7s} {'x b1':>5s} {'x b32':>5s}")
    for r in rows:
        d = dense[(r["dataset"], r["model"])]
        print(f"{r['dataset']:15s} {r['model']:9s} {r['row']:46s} {r['test_auroc']:6.4f} {r['delta_auroc']:+7.4f} "
              f"{r['sensitivity']:5.3f} {r['params']:10,d} {r['macs']:12,d} {r['size_gzip_bytes'] / 1e6:6.2f}M "
              f"{d['size_gzip_bytes'] / r['size_gzip_bytes']:6.2f} {r['latency_ms_batch1']:7.2f} "
              f"{r['latency_ms_batch32']:7.2f} {r['speedup_batch1']:5.2f} {r['speedup_batch32']:5.2f}")


def pareto_plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = sorted({(r["dataset"], r["model"]) for r in rows})
    fig, axes = plt.subplots(1, len(pairs), figsize=(6 * len(pairs), 5), squeeze=False)
    for ax, (ds, model) in zip(axes[0], pairs):
        sub = [r for r in rows if (r["dataset"], r["model"]) == (ds, model)]
        biggest = max(r["size_gzip_bytes"] for r in sub)
        for r in sub:
            anchor = "anchor" in r["row"] or r["row"].startswith(("tp-", "torch-"))
            marker = "*" if r["row"] == "dense" else ("s" if anchor else "o")
            ax.scatter(r["latency_ms_batch32"], r["test_auroc"], s=20 + 300 * r["size_gzip_bytes"] / biggest,
                       marker=marker, alpha=0.6)
            ax.annotate(r["row"].replace(" structured", " S").replace(" unstructured", " U"),
                        (r["latency_ms_batch32"], r["test_auroc"]), fontsize=6)
        ax.set_xlabel("CPU latency, batch 32 (ms)")
        ax.set_ylabel("test AUROC")
        ax.set_title(f"{ds} / {model} (marker area = gzip size)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["pneumoniamnist", "retinamnist"])
    parser.add_argument("--models", nargs="+", default=["resnet18", "smallcnn"])
    parser.add_argument("--criteria", nargs="+", default=CRITERIA.names())
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-pruning"))
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.out = workdir(None, "pruning")
        args.datasets = [str(synthetic_npz(args.out / "smoke.npz"))]
        args.models, args.criteria, args.finetune_epochs = ["smallcnn"], ["magnitude"], 1
    torch.manual_seed(0)
    rows = []
    for name in args.datasets:
        dataset = api.load_data(name)
        for model in args.models:
            print(f"{name} / {model}", flush=True)
            rows += run_pair(dataset, model, args.criteria, args.finetune_epochs, args.out, 2 if args.smoke else None)
    print_table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pruning.json").write_text(json.dumps(rows, indent=2))
    pareto_plot(rows, args.out / "pareto.png")
    print(f"wrote {args.out / 'pruning.json'} and {args.out / 'pareto.png'}")


if __name__ == "__main__":
    main()
