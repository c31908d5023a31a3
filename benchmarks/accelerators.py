"""Training speed on each device this machine has, in each precision, and in 1 against 2 data-parallel processes:
resnet18 on PneumoniaMNIST at 64 px, and the 3D U-Net on the hippocampus MRI set.

Every row is one `medprune train --epochs 1` on the same subset of the training split (the CLI, so the figures are
what a user gets, data preparation and the validation pass included), run one after the other in one go; the
figure is training seconds per 1,000 training cases, and the epoch time of the whole training split it implies.
Under torchrun each of the 2 processes gets half the threads (torchrun's OMP_NUM_THREADS=1 on this 2-core machine),
so on a CPU the DDP rows say what spreading one machine's cores over processes costs, not what a second machine
would bring. The test AUROC / Dice of the rows are those of one epoch on a subset: they show that each row trains,
not how good the model would become.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/accelerators.py [--cases 1024] [--volumes 40]
        [--out runs/bench-accelerators] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from _smoke import synthetic_decathlon, synthetic_npz, workdir


def devices() -> list[str]:
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        found.append("mps")
    return found


def precisions(device: str) -> list[str]:
    """fp16 needs a GPU's half-precision units (and its gradient scaler); bf16 runs everywhere."""
    return ["32", "bf16-mixed"] + (["16-mixed"] if device == "cuda" else [])


def pneumonia_subset(root: Path, cases: int, size: int = 64) -> tuple[Path, str, int]:
    """The first `cases` training images of PneumoniaMNIST at `size` px (resized from 28 px when the 64-px file is
    not on this machine), with small validation and test splits; (npz, what it is, training cases of the full set)."""
    from medprune.data import load_data

    try:
        full, note = load_data(f"pneumoniamnist@{size}"), f"PneumoniaMNIST@{size}"
        resize = None
    except Exception:  # the 64-px file is not here: the 28-px images, resized; step time depends on the shape only
        full, note = load_data("pneumoniamnist"), f"PneumoniaMNIST (28 px) resized to {size} px"
        resize = size
    arrays = {}
    for split, n in (("train", cases), ("val", 128), ("test", 256)):
        part = full.split(split)
        x = np.asarray(part.x[:n])
        if resize:
            t = torch.from_numpy(x.astype(np.float32)).reshape(len(x), 1, *x.shape[-2:])
            x = torch.nn.functional.interpolate(t, size=(resize, resize), mode="bilinear").squeeze(1)
            x = x.round().clamp(0, 255).to(torch.uint8).numpy()
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = x, part.y[:n].reshape(-1, 1).astype(np.uint8)
    path = root / "pneumonia_subset.npz"
    np.savez(path, **arrays)
    return path, note, len(full.split("train").y)


def hippocampus_subset(root: Path, volumes: int) -> tuple[Path, str, int]:
    """A Decathlon dataset.json listing the first `volumes` hippocampus cases (paths into the shared folder)."""
    source = Path(os.environ.get("MEDPRUNE_DATA", "../shared/data")) / "hippocampus" / "dataset.json"
    info = json.loads(source.read_text())
    entries = [{key: str((source.parent / entry[key]).resolve()) for key in ("image", "label")}
               for entry in info["training"][:volumes]]
    folder = root / "hippocampus_subset"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.json").write_text(json.dumps(info | {"training": entries}))
    # the seeded 70/10/20 split trains on 70 % of the cases: the whole set trains on 70 % of its cases too
    return folder, f"hippocampus, {volumes} of {len(info['training'])} volumes", len(info["training"])


def train_row(data: Path, model: str, out: Path, *, device: str, precision: str, processes: int,
              extra: list[str]) -> dict:
    """One `medprune train --epochs 1` in its own process(es); its record's training result."""
    launcher = [sys.executable] if processes == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                        "--nproc-per-node", str(processes)]
    command = [*launcher, "-m", "medprune", "train", "--data", str(data), "--model", model, "--epochs", "1",
               "--device", device, "--precision", precision, "--out", str(out), "--no-progress", "--overwrite",
               *extra]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads((out / "metrics.json").read_text())


def quality(record: dict) -> str:
    if "auroc" in record:
        return f"test AUROC {record['auroc']:.3f}"
    return f"test Dice {record['mean_dice']:.3f}" if "mean_dice" in record else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1024, help="training images of the 2D rows")
    parser.add_argument("--volumes", type=int, default=40, help="hippocampus cases of the 3D rows (70 %% train)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data and models: checks that it runs")
    args = parser.parse_args()
    root = workdir(args.out, "accelerators")
    root.mkdir(parents=True, exist_ok=True)
    if args.smoke:
        workloads = [("smallcnn", synthetic_npz(root / "smoke.npz"), "synthetic 16 px", 96, ["--batch-size", "16"]),
                     ("unet", synthetic_decathlon(root / "cubes", n=12), "synthetic cubes", 12,
                      ["--batch-size", "4"])]
    else:
        npz, note, full = pneumonia_subset(root, args.cases)
        folder, note3d, full3d = hippocampus_subset(root, args.volumes)
        workloads = [("resnet18", npz, note, full, ["--batch-size", "128"]),
                     ("unet", folder, note3d, full3d, ["--batch-size", "4"])]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU threads, devices: {', '.join(devices())}")
    for model, data, note, full_cases, extra in workloads:
        print(f"\n{model} on {note}")
        print(f"{'device':<28} {'precision':<11} {'procs':>5} {'s per 1000 cases':>17} {'epoch (full set)':>17}  "
              "one epoch on the subset")
        rows = [(d, p, 1) for d in devices() for p in precisions(d)]
        rows.append(("cpu", "32", 2))  # data-parallel over gloo; on GPUs it needs one GPU per process
        if torch.cuda.device_count() >= 2:
            rows.append(("cuda", "32", 2))
        for device, precision, processes in rows:
            record = train_row(data, model, root / f"{model}-{device}-{precision}-{processes}", device=device,
                               precision=precision, processes=processes, extra=extra)
            result = record["training"]["result"]
            trained = record["data"]["n"]["train"]
            per_thousand = result["wall_time_s"] / trained * 1000
            share = 0.7 if model == "unet" else 1.0  # the Decathlon split trains on 70 % of its cases
            print(f"{result['device']:<28} {precision:<11} {processes:>5} {per_thousand:>16.1f}s "
                  f"{per_thousand * full_cases * share / 1000:>16.0f}s  {quality(record)}")


if __name__ == "__main__":
    main()
