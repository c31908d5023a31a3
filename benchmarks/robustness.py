"""Robust as well as accurate? A dense ResNet-18 on PneumoniaMNIST against its pruned (macs 0.25, distilled)
version and that version's int8 ONNX export, on the test images under every grey-image corruption at five
severities; then the same pruning fine-tuned with `--augment corruptions`, to see whether that closes the gap.

Prints, per candidate and corruption, the AUROC delta averaged over severities with its interval and verdict,
the worst corruption, and how long the audit of the three models took (the models are reused when present).

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/robustness.py [--workdir runs/robustness] \
        [--epochs 12] [--smoke]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from medprune import api
from medprune.validation.robustness import Model, audit_robustness

from _smoke import synthetic_npz, workdir


def medprune(*args) -> None:
    command = [str(Path(sys.executable).parent / "medprune"), *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[1:3])} failed: {result.stderr[-1500:]}")


def prepare(root: Path, epochs: int, finetune_epochs: int, data: str = "pneumoniamnist",
            model: str = "resnet18") -> dict[str, Path]:
    dense, pruned, robust = root / "dense", root / "pruned-0.25-kd", root / "pruned-0.25-kd-corruptions"
    if not (dense / "model.pt").is_file():
        medprune("train", "--data", data, "--model", model, "--epochs", epochs, "--out", dense,
                 "--no-progress", "--overwrite")
    for out, augment in ((pruned, "light"), (robust, "corruptions")):
        if not (out / "model.pt").is_file():
            medprune("prune", "--model", dense, "--criterion", "taylor", "--structured", "--target", "macs=0.25",
                     "--distill", "--finetune-epochs", finetune_epochs, "--augment", augment, "--out", out,
                     "--no-progress", "--overwrite")
    int8 = root / "pruned-0.25-kd-int8.onnx"
    if not int8.is_file():
        medprune("export", "--model", pruned, "--int8", "--out", int8)
    return {"dense": dense, "pruned": pruned, "int8": int8, "pruned+corruption-augment": robust}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/robustness"))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.workdir = workdir(None, "robustness")
        data = str(synthetic_npz(args.workdir / "smoke.npz"))
        paths = prepare(args.workdir, 2, 1, data, "smallcnn")
    else:
        paths = prepare(args.workdir, args.epochs, args.finetune_epochs)
    models = {name: api.load_model(path) for name, path in paths.items()}
    reference = models.pop("dense")
    dataset = api.load_data_for(reference)
    threshold = reference.threshold
    test = dataset.split("test")
    corruptions = "gaussian_noise,contrast_down" if args.smoke else "all"
    settings = dict(input_shape=dataset.input_shape, corruptions=corruptions, margin=0.01, alpha=0.05, n_resamples=2000,
                    seed=0)
    began = time.perf_counter()
    main_three = [Model(n, models[n], threshold) for n in ("pruned", "int8")]
    record = audit_robustness(Model("dense", reference, threshold), main_three, test, dataset.preprocessing,
                              **settings)
    elapsed = time.perf_counter() - began
    augmented = audit_robustness(Model("dense", reference, threshold),
                                 [Model("pruned+corruption-augment", models["pruned+corruption-augment"], threshold)],
                                 test, dataset.preprocessing, **settings)
    conditions = len(record["conditions"])
    print(f"PneumoniaMNIST test ({len(test)} images), resnet18 dense (reference, threshold {threshold:.4f}) vs "
          f"candidates; {len(record['corruptions'])} corruptions x 5 severities = {conditions} conditions; "
          f"margin 0.01 on the severity-averaged AUROC delta")
    print(f"audit of the three models (dense, pruned, int8) over {conditions} conditions: {elapsed:.0f} s")
    print(f"{'corruption':<18} {'dense AUROC s1..s5':<34} " + " ".join(
        f"{c['name'][:24]:>38}" for c in [*record["candidates"], *augmented["candidates"]]))
    for corruption in [c["name"] for c in record["corruptions"]]:
        dense = " ".join(f"{row['reference_auroc']:.3f}" for row in record["conditions"]
                         if row["corruption"] == corruption)
        cells = []
        for cand in [*record["candidates"], *augmented["candidates"]]:
            e = cand["per_corruption"][corruption]
            cells.append(f"{e['delta']:+.4f} ({e['ci_low']:+.4f},{e['ci_high']:+.4f}) {e['verdict'][:6]:>6}")
        print(f"{corruption:<18} {dense:<34} " + " ".join(f"{c:>38}" for c in cells))
    for cand in [*record["candidates"], *augmented["candidates"]]:
        print(f"{cand['name']}: {cand['verdict']} on corrupted images ({cand['reason']}); worst: "
              f"{cand['worst_corruption']} (mean AUROC delta {cand['worst_delta']:+.4f}); per corruption "
              f"{cand['counts']}")


if __name__ == "__main__":
    main()
