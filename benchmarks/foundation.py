"""Reproduce the foundation figures: test AUROC of models trained by medprune on real data.

Targets (MedMNIST v2 ResNet-18 at 28 px and the foundation issue): PneumoniaMNIST resnet18 >= 0.944,
smallcnn >= 0.93; RetinaMNIST resnet18 >= 0.70; heart-disease table mlp >= 0.90.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/foundation.py [--only NAME] [--out runs/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from medprune import api
from medprune.training import TrainConfig

HEART = Path(os.environ.get("MEDPRUNE_DATA", "../shared/data")) / "heart_disease.csv"

# name: (data, data options, model, training config, target test AUROC)
RUNS = {
    "pneumonia-resnet18": ("pneumoniamnist", {}, "resnet18", TrainConfig(epochs=12), 0.944),
    "pneumonia-smallcnn": ("pneumoniamnist", {}, "smallcnn", TrainConfig(epochs=15), 0.93),
    "retina-resnet18": ("retinamnist", {}, "resnet18", TrainConfig(epochs=30, batch_size=64), 0.70),
    "heart-mlp": (str(HEART), {"target": "HeartDisease", "subgroups": ["Sex"]}, "mlp",
                  TrainConfig(epochs=60, batch_size=64, lr=3e-3, weight_decay=1e-3), 0.90),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(RUNS), help="run only these (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for name in args.only or RUNS:
        data, options, model, config, target = RUNS[name]
        dataset = api.load_data(data, data_dir=args.data_dir, **options)
        began = time.perf_counter()
        record = api.train(dataset, model, config, args.out / name, overwrite=True, progress=False)
        rows.append({"run": name, "model": model, "epochs": config.epochs, "test_auroc": record["auroc"],
                     "target": target, "met": record["auroc"] >= target,
                     "sensitivity": record["sensitivity"], "specificity": record["specificity"],
                     "wall_s": time.perf_counter() - began})
        r = rows[-1]
        print(f"{name:22s} {model:10s} epochs={r['epochs']:3d} test AUROC={r['test_auroc']:.4f} "
              f"(target {target:.3f}: {'met' if r['met'] else 'NOT met'}) sens={r['sensitivity']:.3f} "
              f"spec={r['specificity']:.3f} time={r['wall_s']:.0f}s", flush=True)
    (args.out / "foundation.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
