"""Training on a pruned training set: each score against random selection and the full data.

For each dataset, every score ranks the training cases once (short proxy runs); the kept 30 / 50 / 70 %
(hardest first, class proportions kept) trains the same model with the same recipe and epochs as the
full data. Printed: test AUROC, its change against full data, sensitivity at the validation threshold,
training wall time and its speed-up, and the scoring time, in one table.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/data_pruning.py \
        [--datasets pneumoniamnist retinamnist] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from medprune import api
from medprune.data import load_data
from medprune.data.subset import write_subset
from medprune.datapruning import SCORES, ProxySettings, Selection, select
from medprune.training import TrainConfig

from _smoke import synthetic_npz, workdir


def train(dataset, out: Path, model: str, epochs: int) -> dict:
    if (out / "metrics.json").is_file():
        return json.loads((out / "metrics.json").read_text())
    config = TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, seed=0)
    return api.train(dataset, model, config, out, progress=False, overwrite=True, latency_repeats=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["pneumoniamnist", "retinamnist"])
    parser.add_argument("--scores", nargs="+", default=["el2n", "grand", "forgetting", "prototype", "random"])
    parser.add_argument("--keeps", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    parser.add_argument("--model", default="smallcnn")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--prefer", choices=["hard", "easy"], default="hard", help="keep the hardest or easiest")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-data"))
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    proxy = ProxySettings(model=args.model)
    if args.smoke:
        args.out = workdir(None, "data-pruning")
        args.datasets = [str(synthetic_npz(args.out / "smoke.npz"))]
        args.scores, args.keeps, args.epochs = ["el2n", "random"], [0.5], 1
        proxy = ProxySettings(model=args.model, epochs=1, runs=1, batch_size=16)
    data_dir = Path(os.environ["MEDPRUNE_DATA"]) if "MEDPRUNE_DATA" in os.environ else None
    rows = []
    for name in args.datasets:
        dataset = load_data(name, data_dir=data_dir)
        full = train(dataset, args.out / Path(name).stem / "full", args.model, args.epochs)
        full_time = full["training"]["result"]["wall_time_s"]
        rows.append((name, "full data", 1.0, full["auroc"], 0.0, full["sensitivity"], full_time, 1.0, 0.0))
        y = dataset.split("train").y
        for score in args.scores:
            folder = args.out / Path(name).stem / score
            folder.mkdir(parents=True, exist_ok=True)
            if (folder / "scores.npy").is_file():
                scores = np.load(folder / "scores.npy")
                scoring = json.loads((folder / "scoring.json").read_text())["wall_time_s"]
            else:
                began = time.perf_counter()
                scores = SCORES.get(score)().compute(dataset, proxy)
                scoring = time.perf_counter() - began
                np.save(folder / "scores.npy", scores)
                (folder / "scoring.json").write_text(json.dumps({"wall_time_s": scoring}))
            for keep in args.keeps:
                indices = select(scores, y, Selection(keep=keep, prefer=args.prefer))
                tag = f"keep{keep:g}" + ("-easy" if args.prefer == "easy" else "")
                subset = write_subset(folder / f"{tag}.json", dataset, indices, {"score": score})
                result = train(load_data(subset, data_dir=data_dir), folder / tag, args.model, args.epochs)
                wall = result["training"]["result"]["wall_time_s"]
                rows.append((name, score, keep, result["auroc"], result["auroc"] - full["auroc"], result["sensitivity"],
                             wall, full_time / wall, scoring))
                print(f"{name} {score} keep={keep:g}: test AUROC {result['auroc']:.4f}", flush=True)
    first = "hardest" if args.prefer == "hard" else "easiest"
    print(f"\n{args.model}, {args.epochs} epochs for every run (same recipe and seed); kept: {first} first, "
          "class proportions kept; sensitivity at the validation threshold (multi-class: macro)")
    print(f"{'data':15s} {'score':10s} {'keep':>5s} {'test AUROC':>10s} {'vs full':>8s} {'sens':>6s} "
          f"{'train s':>8s} {'speed-up':>8s} {'scoring s':>9s}")
    for name, score, keep, auroc, delta, sens, wall, speed, scoring in rows:
        print(f"{name:15s} {score:10s} {keep:5g} {auroc:10.4f} {delta:+8.4f} {sens:6.3f} {wall:8.1f} {speed:8.2f} "
              f"{scoring:9.0f}")
    (args.out / f"data-pruning-{args.prefer}.json").write_text(json.dumps(
        [dict(zip(("data", "score", "keep", "test_auroc", "delta_vs_full", "sensitivity", "train_wall_s", "speedup",
                   "scoring_s"), r)) for r in rows], indent=1))


if __name__ == "__main__":
    main()
