"""Searched per-layer keep ratios against uniform ratios and a global ranking, same fine-tuning budget.

For each dataset and MACs target: every learner runs a study with the same trial budget (adaptive-BN
scoring on validation), its chosen candidate is fine-tuned; the uniform allocation (one keep ratio in
every layer) and the global ranking (the criterion's channel scores compared across layers, as
Torch-Pruning's global pruning does) are fine-tuned for the same epochs. Test AUROC, sensitivity at the
dense model's validation threshold, batch-32 latency (interleaved) and the search wall time, in one table.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/search.py \
        --dense pneumoniamnist=runs/bench/pneumonia-resnet18 --dense retinamnist=runs/bench/retina-resnet18
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from medprune.evaluation import evaluate
from medprune.evaluation.efficiency import measure_latency_interleaved
from medprune.models import Checkpoint, load_checkpoint
from medprune.pruning.structured import DenseFigures, prune_channels
from medprune.pruning.target import Target
from medprune.search import RunOptions, SearchConfig, search
from medprune.training.batchnorm import recalibrate_batchnorm
from medprune.search.evaluator import Evaluator
from medprune.training import TrainConfig, fit

from _smoke import tiny_runs, workdir


def finetune(model, dataset, epochs: int, lr: float):
    fit(model, dataset, TrainConfig(epochs=epochs, lr=lr, batch_size=128), progress=False, keep_start=True)
    return model


def baselines(config: SearchConfig, epochs: int, lr: float) -> dict[str, tuple[torch.nn.Module, float]]:
    """Uniform and global allocations at the same budget, BN-recalibrated and fine-tuned alike; the time is
    that of the allocation alone (the search's time likewise excludes fine-tuning)."""
    ev = Evaluator.build(config)
    out = {}
    began = time.perf_counter()
    uniform = ev.space.materialize(ev.space.uniform(ev.cost, ev.target.value))
    took = time.perf_counter() - began
    out["uniform"] = (finetune(recalibrate_batchnorm(uniform, ev.bn_batches), ev.dataset, epochs, lr), took)
    began = time.perf_counter()
    from medprune.pruning.criterion import CRITERIA, CalibrationData

    data = CalibrationData.from_dataset(ev.dataset, config.calibration_batches, config.batch_size, config.seed)
    shape = tuple(ev.dataset.input_shape)
    ranked, _ = prune_channels(ev.dense.model, CRITERIA.get(config.criterion)(), data, Target.parse(config.target),
                               dense=DenseFigures.measure(ev.dense.model, shape, with_latency=False),
                               n_classes=ev.dataset.n_classes, global_ranking=True,
                               max_layer_ratio=config.max_layer_ratio)
    took = time.perf_counter() - began
    out["global ranking"] = (finetune(recalibrate_batchnorm(ranked, ev.bn_batches), ev.dataset, epochs, lr), took)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dense", action="append", help="NAME=RUN_DIR of a dense model")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.25])
    parser.add_argument("--samplers", nargs="+", default=["tpe", "gp", "pso", "evolution", "random"])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs of every final model")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--criterion", default="taylor")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-search"))
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.out = workdir(None, "search")
        args.dense = [f"smoke={tiny_runs(args.out)[0]}"]
        args.targets, args.samplers, args.trials, args.epochs = [0.5], ["random"], 3, 1
    if not args.dense:
        parser.error("give --dense NAME=RUN_DIR (repeatable), or --smoke")
    rows = []
    for item in args.dense:
        name, dense_dir = item.split("=", 1)
        dense = load_checkpoint(Path(dense_dir))
        for target in args.targets:
            folder = args.out / f"{name}-macs{target:g}"
            base = dict(model=dense_dir, storage="", criterion=args.criterion, target=f"macs={target:g}", trials=args.trials,
                        operating_margin=1.0 if args.smoke else 0.05)  # smoke: a weak tiny model, guard off
            models: dict[str, tuple[torch.nn.Module, float]] = {}
            for sampler in args.samplers:
                out = folder / sampler
                if not (out / "search.json").is_file():
                    search(SearchConfig(sampler=sampler, **base), out,
                           RunOptions(finetune_epochs=args.epochs, lr=args.lr, progress=False,
                                      finetune_top=1 if args.smoke else 3),
                           resume=(out / "study.db").exists())
                record = json.loads((out / "search.json").read_text())
                models[f"searched: {sampler}"] = (load_checkpoint(out / "best").model, record["wall_time_s"])
                print(f"{name} macs={target:g} {sampler}: done", flush=True)
            models.update(baselines(SearchConfig(sampler="random", **base), args.epochs, args.lr))
            ev_dataset = Evaluator.build(SearchConfig(sampler="random", **base)).dataset
            shape = tuple(ev_dataset.input_shape)
            latency = measure_latency_interleaved({k: m for k, (m, _) in models.items()} | {"dense": dense.model},
                                                  shape, 32, repeats=15)
            for key, (model, wall) in models.items():
                result = evaluate(Checkpoint(model, dense.spec), ev_dataset, threshold=dense.threshold,
                                  with_efficiency=False)
                rows.append((name, target, key, result.auroc, result.sensitivity, latency[key], latency["dense"], wall))
    print(f"\nfine-tuning: {args.epochs} epochs for every model; searched: {args.trials} trials each, adaptive BN, "
          "top-3 short fine-tune; latency: batch 32, median of 15 interleaved runs")
    print(f"{'data':15s} {'MACs':>5s} {'allocation':20s} {'test AUROC':>10s} {'sens':>6s} {'b32 ms':>7s} "
          f"{'dense ms':>8s} {'wall s':>7s}")
    for name, target, key, auroc, sens, ms, dense_ms, wall in rows:
        print(f"{name:15s} {target:5g} {key:20s} {auroc:10.4f} {sens:6.3f} {ms:7.2f} {dense_ms:8.2f} {wall:7.0f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search-benchmark.json").write_text(json.dumps(
        [dict(zip(("data", "macs", "allocation", "test_auroc", "sensitivity", "latency_ms", "dense_latency_ms",
                   "wall_s"), r)) for r in rows], indent=1))


if __name__ == "__main__":
    main()
