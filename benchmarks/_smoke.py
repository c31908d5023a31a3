"""Tiny inputs for the benchmarks' `--smoke` runs, which `make test` runs so that no benchmark rots unseen:
a synthetic image set whose class sets the brightness of a central square (learnable in a few steps), a dense
smallcnn trained on it, and that model pruned. The figures of a smoke run mean nothing; that it runs does."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def workdir(given: Path | None, name: str) -> Path:
    """The folder a smoke run writes to: the one given, else a fresh temporary one."""
    return given if given is not None else Path(tempfile.mkdtemp(prefix=f"medprune-smoke-{name}-"))


def synthetic_npz(path: Path, size: int = 16, counts: tuple[int, int, int] = (96, 48, 48), seed: int = 0,
                  dims: int = 2) -> Path:
    """A two-class set of images (or volumes, dims=3) in the MedMNIST .npz layout."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(("train", "val", "test"), counts):
        y = np.arange(n) % 2
        rng.shuffle(y)
        x = rng.integers(0, 60, size=(n, *[size] * dims))
        x[(y == 1, *[slice(size // 4, -size // 4)] * dims)] += 80
        arrays[f"{split}_images"] = np.clip(x, 0, 255).astype(np.uint8)
        arrays[f"{split}_labels"] = y.reshape(-1, 1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def tiny_runs(root: Path) -> tuple[Path, Path]:
    """A dense smallcnn trained for a few epochs on `synthetic_npz`, and it pruned to half its MACs: run folders."""
    from medprune import api

    dataset = api.load_data(str(synthetic_npz(root / "smoke.npz")))
    dense, pruned = root / "dense", root / "pruned"
    api.train(dataset, "smallcnn", api.TrainConfig(epochs=3, batch_size=16), dense, progress=False, overwrite=True,
              latency_repeats=1)
    checkpoint = api.load_model(dense)
    settings = api.PruneSettings(criterion="magnitude", target="macs=0.5", finetune_epochs=1, batch_size=16)
    api.prune(checkpoint, dataset, settings, pruned, progress=False, overwrite=True, latency_repeats=1)
    return dense, pruned


def synthetic_decathlon(root: Path, n: int = 24, seed: int = 0) -> Path:
    """A two-structure Decathlon task of small volumes: a bright cube whose two halves are the structures."""
    import json

    import nibabel as nib

    rng = np.random.default_rng(seed)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(exist_ok=True)
    entries = []
    for i in range(n):
        label = np.zeros((16, 16, 16), np.uint8)
        corner = rng.integers(2, 7, 3)
        label[corner[0]:corner[0] + 4, corner[1]:corner[1] + 8, corner[2]:corner[2] + 8] = 1
        label[corner[0] + 4:corner[0] + 8, corner[1]:corner[1] + 8, corner[2]:corner[2] + 8] = 2
        image = rng.normal(0, 0.3, label.shape) + (label > 0)
        for kind, array in (("imagesTr", image.astype(np.float32)), ("labelsTr", label)):
            nib.save(nib.Nifti1Image(array, np.eye(4)), root / kind / f"case_{i:03d}.nii.gz")
        entries.append({"image": f"./imagesTr/case_{i:03d}.nii.gz", "label": f"./labelsTr/case_{i:03d}.nii.gz"})
    (root / "dataset.json").write_text(json.dumps({"name": "Cubes", "labels": {"0": "background", "1": "front",
                                                                               "2": "back"}, "training": entries}))
    return root
