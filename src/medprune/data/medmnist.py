"""Read `.npz` files in the MedMNIST layout (any flag, any size, or a user's own file)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from medprune.data._medmnist_info import MedMNISTInfo
from medprune.data.dataset import SPLITS, Dataset, Split, check_labels, task_for
from medprune.data.fetch import md5sum
from medprune.errors import DataError

# MedMNIST's own normalisation (transforms.Normalize(mean=[.5], std=[.5])) on [0, 1] pixels.
IMAGE_PREPROCESSING = {"scale": 1 / 255, "mean": 0.5, "std": 0.5}


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    needed = [f"{s}_{k}" for s in SPLITS for k in ("images", "labels")]
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in needed if k not in npz.files]
            if missing:
                raise DataError(
                    f"{path} lacks the keys {', '.join(missing)} (has {', '.join(npz.files) or 'none'}): "
                    "a MedMNIST-layout file needs train/val/test _images and _labels"
                )
            return {k: npz[k] for k in needed}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise DataError(f"{path} is not a readable .npz file ({err}): it may be truncated; "
                        "download or copy it again") from None


def _images_nchw(name: str, split: str, images: np.ndarray, volumes: bool | None = None) -> np.ndarray:
    """(N, C, H, W) images or (N, 1, D, H, W) volumes. `volumes` None: a 4D array whose last axis is not 1 or 3
    channels is taken as (N, D, H, W) volumes."""
    if volumes is None:
        volumes = images.ndim == 4 and images.shape[-1] not in (1, 3)
    if volumes and images.ndim == 4:
        images = images[:, None]
    elif not volumes and images.ndim == 3:
        images = images[:, None]
    elif not volumes and images.ndim == 4 and images.shape[-1] in (1, 3):
        images = images.transpose(0, 3, 1, 2)
    else:
        expected = "(N, D, H, W) volumes" if volumes else "(N, H, W) grey or (N, H, W, 3) RGB images"
        raise DataError(f"{name}: {split}_images has shape {images.shape}: expected {expected}")
    if images.dtype != np.uint8:
        if np.issubdtype(images.dtype, np.floating) and np.isnan(images).any():
            raise DataError(f"{name}: {split}_images contains NaN pixels: clean or drop those images")
        raise DataError(f"{name}: {split}_images has dtype {images.dtype}: expected uint8 pixels "
                        "(0..255) as in MedMNIST")
    return np.ascontiguousarray(images)


def _labels(name: str, split: str, labels: np.ndarray, n_images: int) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise DataError(f"{name}: {split}_labels has {labels.shape[1]} columns (multi-label): only "
                        "binary and multi-class tasks are supported; choose another dataset")
    labels = labels.reshape(-1)
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)):
        raise DataError(f"{name}: {split}_labels has dtype {labels.dtype} ({labels[:1].tolist()}...): labels must be "
                        "whole-number class indices 0..K-1; map class names to indices first")
    if np.issubdtype(labels.dtype, np.floating):
        if np.isnan(labels).any():
            raise DataError(f"{name}: {split}_labels contains NaN: every case needs a class label")
        if not np.all(labels == np.round(labels)):
            raise DataError(f"{name}: {split}_labels are not whole numbers: labels are class indices")
    if len(labels) != n_images:
        raise DataError(f"{name}: {split} has {n_images} images but {len(labels)} labels: "
                        "they must match one to one")
    return labels.astype(np.int64)


def _class_names_from_labels(name: str, splits: dict[str, Split]) -> list[str]:
    """Classes 0..K-1 of a user's file; a class index with no training case is a stray label, not a class."""
    empty_splits = [split for split, s in splits.items() if len(s.y) == 0]
    if empty_splits:
        split = empty_splits[0]
        fix = "carve one out of train with --val-fraction 0.2" if split == "val" else "put cases in it"
        raise DataError(f"{name}: the {split} split is empty ({split}_images holds no cases): {fix}")
    labels = np.concatenate([s.y for s in splits.values()])
    top = int(labels.max())  # negative labels are refused by check_labels
    trained = set(np.unique(splits["train"].y).tolist())
    empty = [k for k in range(top + 1) if k not in trained]
    if empty:
        found = ", ".join(str(int(v)) for v in np.unique(labels)[:12])
        raise DataError(f"{name}: class {empty[0]} has no training cases (labels found: {found}): a stray label makes "
                        f"a {top + 1}-class task; fix the labels so classes are 0..K-1, each with training cases")
    return [str(i) for i in range(top + 1)]


def load_medmnist_npz(path: Path, *, info: MedMNISTInfo | None = None, name: str | None = None,
                      source: dict | None = None, classes: list[str] | None = None) -> Dataset:
    """Load a MedMNIST-layout file; `info` (for an official flag) or `classes` (the user's names for
    indices 0..K-1, which may include classes without training cases) fixes the class names.

    Raises:
        DataError: missing keys, bad shapes or dtypes, NaNs, labels outside the class range.
    """
    path = Path(path)
    name = name or path.stem
    arrays = _read_npz(path)
    splits = {}
    for split in SPLITS:
        images = _images_nchw(name, split, arrays[f"{split}_images"], info.volumes if info is not None else None)
        splits[split] = Split(images, _labels(name, split, arrays[f"{split}_labels"], len(images)))
    shapes = {s.x.shape[1:] for s in splits.values()}
    if len(shapes) > 1:
        raise DataError(f"{name}: the splits have different image shapes {sorted(shapes)}: "
                        "all images must share one shape")
    if info is not None:
        class_names = list(info.class_names)
    elif classes:
        class_names = [str(c) for c in classes]
        if len(set(class_names)) != len(class_names) or len(class_names) < 2 or not all(class_names):
            raise DataError(f"--classes {','.join(class_names)}: give at least two distinct, non-empty class names, "
                            "one per class index")
    else:
        class_names = _class_names_from_labels(name, splits)
    check_labels(name, splits, len(class_names))
    return Dataset(
        name=name, modality="image", task=task_for(len(class_names)), class_names=class_names,
        splits=splits, input_shape=tuple(int(d) for d in shapes.pop()),
        source=source or {"data": str(path)}, checksum=md5sum(path),
        preprocessing=dict(IMAGE_PREPROCESSING),
    )
