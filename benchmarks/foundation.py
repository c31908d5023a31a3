"""Reproduce the foundation figures: test AUROC of models trained by medprune on real data, with the default
recipe (step budget scaled to the data, early stopping, augmentation and class weighting chosen for the data)
next to the fixed recipe it replaced (10 epochs, light augmentation, no class weighting).

Small-data rows are stratified random subsets of PneumoniaMNIST's training split, made the way a user would
(`medprune data prune --data pneumoniamnist --score random --keep 0.116` gives the 546-image one); validation
and test splits stay whole. Targets: the training issue (546-image subset >= 0.96 in under 6 minutes,
PneumoniaMNIST >= 0.975, RetinaMNIST >= 0.75) and MedMNIST v2's ResNet-18 at 28 px where it reports one.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/foundation.py [--only NAME] [--recipe default] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from medprune import api
from medprune.data import Dataset
from medprune.training import TrainConfig

from _smoke import synthetic_npz, workdir

HEART = Path(os.environ.get("MEDPRUNE_DATA", "../shared/data")) / "heart_disease.csv"
N_PNEUMONIA_TRAIN = 4708

# name: (data, data options, share of the training split kept, model, target test AUROC, MedMNIST v2 ResNet-18)
RUNS = {
    "pneumonia546-resnet18": ("pneumoniamnist", {}, 0.116, "resnet18", 0.96, None),
    "pneumonia1000-resnet18": ("pneumoniamnist", {}, 1000 / N_PNEUMONIA_TRAIN, "resnet18", None, None),
    "pneumonia-resnet18": ("pneumoniamnist", {}, None, "resnet18", 0.975, 0.944),
    "retina-resnet18": ("retinamnist", {}, None, "resnet18", 0.75, 0.717),
    "pneumonia-smallcnn": ("pneumoniamnist", {}, None, "smallcnn", 0.93, None),
    "heart-mlp": (str(HEART), {"label_column": "HeartDisease", "subgroups": ["Sex"]}, None, "mlp", 0.90, None),
}
RECIPES = {
    "default": TrainConfig(),
    "fixed10": TrainConfig(epochs=10, augment="light", class_weighting="off", average="none"),  # the old defaults
}


def load(data: str, options: dict, keep: float | None, out: Path, data_dir: Path | None) -> Dataset:
    dataset = api.load_data(data, data_dir=data_dir, **options)
    if keep is None:
        return dataset
    folder = out / f"subset-{data}-{keep:.4f}"
    api.prune_data(dataset, "random", api.Selection(keep=keep), folder)
    return api.load_data(str(folder / "subset.json"), data_dir=data_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(RUNS), help="run only these (repeatable)")
    parser.add_argument("--recipe", action="append", choices=sorted(RECIPES), help="only these recipes (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:  # both recipes, shortened, on a tiny synthetic set and a 20 % subset of it
        args.out = workdir(None, "foundation")
        npz = str(synthetic_npz(args.out / "smoke.npz"))
        RUNS.update({"smoke": (npz, {}, None, "smallcnn", None, None), "smoke-subset": (npz, {}, 0.5, "smallcnn",
                                                                                           None, None)})
        RECIPES.update({name: config.replace(epochs=2, batch_size=16) for name, config in RECIPES.items()})
        args.only = ["smoke", "smoke-subset"]
    rows = []
    for name in args.only or RUNS:
        data, options, keep, model, target, medmnist = RUNS[name]
        dataset = load(data, options, keep, args.out, args.data_dir)
        for recipe in args.recipe or RECIPES:
            began = time.perf_counter()
            record = api.train(dataset, model, RECIPES[recipe], args.out / f"{name}-{recipe}", overwrite=True,
                               progress=False)
            result = record["training"]["result"]
            rows.append({"run": name, "recipe": recipe, "model": model, "n_train": len(dataset.split("train")),
                         "epochs": len(result["history"]), "plan": result["plan"], "stopped": result["stopped"],
                         "test_auroc": record["auroc"], "target": target,
                         "medmnist_v2_resnet18": medmnist, "wall_s": time.perf_counter() - began})
            r = rows[-1]
            goal = "" if target is None else f" (target {target:.3f}: {'met' if r['test_auroc'] >= target else 'NOT met'})"
            paper = "" if medmnist is None else f" MedMNIST v2 {medmnist:.3f}"
            print(f"{name:24s} {recipe:8s} n={r['n_train']:5d} epochs={r['epochs']:3d} "
                  f"augment={r['plan']['augment']:6s} weighted={str(r['plan']['class_weighting']):5s} "
                  f"test AUROC={r['test_auroc']:.4f}{goal}{paper} time={r['wall_s']:.0f}s; stopped: {r['stopped']}",
                  flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "foundation.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
