"""Segmentation data: images with a label mask per case, read from a Decathlon folder or a CSV manifest.

Every case is normalised (MRI / X-ray: z-score per case; CT: a window) and padded with background to one
shape divisible by 16, so a U-Net's four down-samplings fit and cases batch together; each case keeps its
own shape and voxel spacing, and metrics are computed on the case's own voxels only. Cases are split by
case (seeded 70 / 10 / 20) unless the rows with one value of a column are held out as an external test.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medprune.data.manifest import given_splits, group_split, salted
from medprune.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
MULTIPLE = 16  # four 2x down-samplings


@dataclass
class SegmentationSplit:
    """Cases of one split: x (N, C, *S) float32 normalised and padded, y (N, *S) uint8 structure indices."""

    x: np.ndarray
    y: np.ndarray
    shapes: np.ndarray  # (N, D) each case's own spatial shape, before padding
    spacing: np.ndarray  # (N, D) voxel size in mm
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # image paths as given, for predict output only
    groups: np.ndarray | None = None  # patient of each case, where the data name one (None: each case its own)

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, indices: np.ndarray) -> SegmentationSplit:
        return SegmentationSplit(self.x[indices], self.y[indices], self.shapes[indices], self.spacing[indices],
                                 {k: v[indices] for k, v in self.meta.items()},
                                 [self.files[i] for i in indices] if self.files else [],
                                 self.groups[indices] if self.groups is not None else None)

    def case(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Case i's image and mask cropped back to its own shape."""
        crop = tuple(slice(0, int(s)) for s in self.shapes[i])
        return self.x[i][(slice(None), *crop)], self.y[i][crop]


@dataclass
class SegmentationDataset:
    """A segmentation dataset; class_names are the structures, background first."""

    name: str
    class_names: list[str]
    splits: dict[str, SegmentationSplit]
    input_shape: tuple[int, ...]  # (C, *padded spatial shape)
    source: dict[str, Any]
    preprocessing: dict[str, Any]
    checksum: str = ""
    modality: str = "image"
    task: str = "segmentation"

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def structures(self) -> list[str]:
        return self.class_names[1:]

    @property
    def spatial_dims(self) -> int:
        return len(self.input_shape) - 1

    def split(self, name: str) -> SegmentationSplit:
        if name not in self.splits:
            raise DataError(f"split '{name}' does not exist in {self.name}: choose one of {', '.join(self.splits)}")
        return self.splits[name]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "modality": self.modality, "task": self.task, "class_names": list(self.class_names),
                "input_shape": list(self.input_shape), "n": {k: len(v) for k, v in self.splits.items()},
                "source": dict(self.source), "md5": self.checksum}


def is_segmentation_source(data: str | Path, mask_column: str | None = None) -> bool:
    """Decathlon data (a dataset.json, or a folder holding one or labelsTr/), or a manifest with a mask column."""
    path = Path(data)
    if mask_column is not None:
        return True
    if path.name == "dataset.json":
        return True
    return path.is_dir() and ((path / "dataset.json").is_file() or (path / "labelsTr").is_dir())


def normalise(image: np.ndarray, how: str, window: tuple[float, float] | None = None) -> np.ndarray:
    """zscore: per case, over its voxels; window: CT centre/width to [-1, 1]; scale: uint8 images to [0, 1]."""
    image = image.astype(np.float32)
    if how == "window":
        centre, width = window or (40.0, 400.0)
        return np.clip((image - centre) / (width / 2), -1, 1)
    if how == "scale":
        return image / 255.0
    std = float(image.std())
    return (image - float(image.mean())) / (std if std > 0 else 1.0)


def _split_indices(n: int, seed: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = round(0.2 * n), round(0.1 * n)
    return {"test": np.sort(order[:n_test]), "val": np.sort(order[n_test:n_test + n_val]),
            "train": np.sort(order[n_test + n_val:])}


def _external_split(values: np.ndarray, external: str, seed: int, column: str,
                    groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Rows whose `column` equals `external` are the test split; the rest is split 7:1 train / val, by patient
    where `groups` names them."""
    from sklearn.model_selection import GroupShuffleSplit

    test = np.flatnonzero(values == external)
    if len(test) == 0:
        raise DataError(f"no rows have {column}={external}: choose one of {', '.join(sorted(set(values)))}")
    rest = np.flatnonzero(values != external)
    if groups is None:
        order = np.random.default_rng(seed).permutation(rest)
        n_val = max(1, round(len(rest) / 8))
        return {"train": np.sort(order[n_val:]), "val": np.sort(order[:n_val]), "test": test}
    shared = set(groups[test]) & set(groups[rest])
    if shared:
        raise DataError(f"{len(shared)} patients have images both at {column}={external} and elsewhere: the external "
                        "test would share patients with training; remove those rows or hold out another value")
    train, val = next(GroupShuffleSplit(n_splits=1, test_size=1 / 8, random_state=seed).split(rest,
                                                                                               groups=groups[rest]))
    return {"train": np.sort(rest[train]), "val": np.sort(rest[val]), "test": test}


def _manifest_splits(frame, name: str, seed: int, external_test: str | None, split_column: str | None,
                     groups: np.ndarray | None, allow_group_overlap: bool,
                     meta: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rows of each split: given by a column, an external test site, by patient, or case by case."""
    if external_test and split_column:
        raise ConfigError("--external-test and --split-column both choose the test split: give one of them")
    if split_column:
        if split_column not in frame.columns:
            raise DataError(f"{name} has no column '{split_column}': name the train / val / test column")
        given = given_splits(frame, split_column, groups, allow_group_overlap, name)
        return {s: np.flatnonzero(given == s) for s in ("train", "val", "test")}
    if external_test:
        column, _, value = external_test.partition("=")
        if column not in frame.columns or not value:
            raise ConfigError(f"--external-test '{external_test}' must be COLUMN=VALUE with a column of {name}")
        meta.setdefault(column, frame[column].astype(str).to_numpy())
        return _external_split(meta[column], value, seed, column, groups)
    if groups is not None:
        return group_split(np.zeros(len(frame), np.int64), groups, seed)
    return _split_indices(len(frame), seed)


def _pad_shape(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    biggest = np.max(np.array(shapes), axis=0)
    return tuple(int(-(-s // MULTIPLE) * MULTIPLE) for s in biggest)


def _stack(cases: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    channels = cases[0][0].shape[0]
    x = np.zeros((len(cases), channels, *shape), np.float32)
    y = np.zeros((len(cases), *shape), np.uint8)
    for i, (image, mask) in enumerate(cases):
        crop = tuple(slice(0, s) for s in mask.shape)
        x[i][(slice(None), *crop)] = image
        y[i][crop] = mask
    return x, y


def _read_nifti(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    try:
        image = nib.load(str(path))
        return np.asarray(image.dataobj), tuple(float(z) for z in image.header.get_zooms()[:3])
    except (ImageFileError, OSError, ValueError, EOFError) as err:  # missing, truncated or foreign files
        raise DataError(f"{path} is not a readable NIfTI file ({str(err)[:80]}): replace or remove it") from None


def _digest(paths: list[Path]) -> str:
    md5 = hashlib.md5()
    for path in paths:
        stat = path.stat()
        md5.update(f"{path.name}:{stat.st_size}".encode())
    return md5.hexdigest()


def load_decathlon(path: str | Path, *, seed: int = 0) -> SegmentationDataset:
    """A Medical Segmentation Decathlon task: `dataset.json` (or its folder) listing imagesTr / labelsTr pairs."""
    path = Path(path)
    index = path if path.name == "dataset.json" else path / "dataset.json"
    if not index.is_file():
        raise DataError(f"{path} has no dataset.json: pass a Decathlon task folder (dataset.json, imagesTr/, labelsTr/)")
    try:
        info = json.loads(index.read_text())
        pairs = [(index.parent / e["image"], index.parent / e["label"]) for e in info["training"]]
        labels = {int(k): str(v).lower() for k, v in info["labels"].items()}
        modality = str(next(iter(info.get("modality", {"0": "MRI"}).values())))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DataError(f"{index} is not a Decathlon dataset.json (needs 'training' image/label pairs and "
                        "'labels'): fix the file") from None
    if sorted(labels) != list(range(len(labels))) or len(labels) < 2:
        raise DataError(f"{index}: labels must be numbered 0..K-1 with 0 the background, got {sorted(labels)}")
    missing = [p for pair in pairs for p in pair if not p.is_file()]
    if missing:
        raise DataError(f"{missing[0]} is listed in {index.name} but missing ({len(missing)} files): restore it or "
                        "remove its entry")
    how = "window" if modality.upper() == "CT" else "zscore"
    cases, shapes, spacing = [], [], []
    for image_path, label_path in pairs:
        image, zooms = _read_nifti(image_path)
        mask, _ = _read_nifti(label_path)
        if image.ndim == 4:  # channels last in the Decathlon's multi-modal tasks
            image = np.moveaxis(image, -1, 0)
        else:
            image = image[None]
        if mask.shape != image.shape[1:]:
            raise DataError(f"{label_path.name} has shape {mask.shape} but its image {image.shape[1:]}: the pair "
                            "does not match")
        mask = np.rint(mask).astype(np.int64)
        if mask.min() < 0 or mask.max() >= len(labels):
            raise DataError(f"{label_path.name} holds label {int(mask.max())} but {index.name} names "
                            f"{len(labels)} labels: fix the mask or the labels")
        cases.append((np.stack([normalise(c, how) for c in image]), mask.astype(np.uint8)))
        shapes.append(mask.shape)
        spacing.append(zooms[:mask.ndim])
    source = {"data": str(path), "seed": seed}
    files = [str(p) for p, _ in pairs]
    return _dataset(str(info.get("name", path.name)).lower(), [labels[i] for i in range(len(labels))], cases, shapes,
                    spacing, _split_indices(len(cases), seed), {}, files, source,
                    {"normalise": how, "modality": modality}, _digest([p for pair in pairs for p in pair]))


def load_mask_manifest(path: str | Path, *, image_column: str = "image", mask_column: str = "mask",
                       image_size: int | None = None, seed: int = 0, external_test: str | None = None,
                       subgroups: list[str] | None = None, group_column: str | None = None,
                       split_column: str | None = None, allow_group_overlap: bool = False) -> SegmentationDataset:
    """A CSV with one row per 2D image and its mask (PNG or other image files; mask > 127 is the structure for
    0/255 masks, else the pixel value is the structure index). `external_test` is `column=value`; with a
    `group_column` (patients) the splits are made by patient; a `split_column` gives them."""
    import pandas as pd
    from PIL import Image

    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is not a readable CSV ({str(err)[:80]}): pass the manifest file") from None
    if group_column and group_column not in frame.columns:
        raise DataError(f"{path} has no column '{group_column}': name the patient column with --group-column")
    for column in (image_column, mask_column):
        if column not in frame.columns:
            raise DataError(f"{path} has no column '{column}': name the image and mask columns with --image-column "
                            "and --mask-column")
    cases, shapes, files = [], [], []
    for _, row in frame.iterrows():
        image_path, mask_path = path.parent / str(row[image_column]), path.parent / str(row[mask_column])
        try:
            image = Image.open(image_path).convert("L")
            mask = Image.open(mask_path).convert("L")
        except OSError as err:
            raise DataError(f"row {len(cases) + 1} of {path.name}: {str(err)[:100]}: fix or remove the row") from None
        if image_size:
            image = image.resize((image_size, image_size), Image.BILINEAR)
            mask = mask.resize((image_size, image_size), Image.BILINEAR)  # soft edges, binarised below
        m = np.asarray(mask)
        m = (m > 127).astype(np.uint8) if m.max() > 2 else m.astype(np.uint8)
        cases.append((normalise(np.asarray(image), "zscore")[None], m))
        shapes.append(m.shape)
        files.append(str(image_path))
    n_classes = max(2, int(max(m.max() for _, m in cases)) + 1)
    names = ["background", *(["foreground"] if n_classes == 2 else [f"structure {i}" for i in range(1, n_classes)])]
    meta = {c: frame[c].astype(str).to_numpy() for c in (subgroups or []) if c in frame.columns}
    groups = frame[group_column].astype(str).to_numpy() if group_column else None
    splits = _manifest_splits(frame, path.name, seed, external_test, split_column, groups, allow_group_overlap, meta)
    source = {"data": str(path), "image_column": image_column, "mask_column": mask_column, "image_size": image_size,
              "seed": seed, "external_test": external_test, "subgroups": list(subgroups or []),
              "group_column": group_column, "split_column": split_column}
    spacing = [(1.0, 1.0)] * len(cases)  # PNGs carry no pixel size: distances are in pixels
    return _dataset(path.stem, names, cases, shapes, spacing, splits, meta, files, source,
                    {"normalise": "zscore", "modality": "X-ray", "spacing_unit": "px"},
                    _digest([path]), salted(groups) if groups is not None else None)


def _dataset(name, class_names, cases, shapes, spacing, splits, meta, files, source, preprocessing,
             checksum, groups: np.ndarray | None = None) -> SegmentationDataset:
    shape = _pad_shape(shapes)
    x, y = _stack(cases, shape)
    shapes_a, spacing_a = np.array(shapes), np.array(spacing, dtype=np.float64)
    built = {}
    for split, idx in splits.items():
        if len(idx) == 0:
            raise DataError(f"{name}: the {split} split is empty: give more cases")
        built[split] = SegmentationSplit(x[idx], y[idx], shapes_a[idx], spacing_a[idx],
                                         {k: v[idx] for k, v in meta.items()}, [files[i] for i in idx],
                                         groups[idx] if groups is not None else None)
    return SegmentationDataset(name, class_names, built, (x.shape[1], *shape), source, preprocessing, checksum)


def load_segmentation(data: str | Path, *, mask_column: str | None = None, image_column: str | None = None,
                      image_size: int | None = None, seed: int = 0, external_test: str | None = None,
                      subgroups: list[str] | None = None, group_column: str | None = None,
                      split_column: str | None = None, allow_group_overlap: bool = False) -> SegmentationDataset:
    """Decathlon folder / dataset.json, or a CSV manifest with a mask column."""
    path = Path(data)
    if not path.exists():
        raise DataError(f"{path} does not exist: pass a Decathlon folder or a manifest CSV with --mask-column")
    if path.suffix.lower() == ".csv":
        return load_mask_manifest(path, image_column=image_column or "image", mask_column=mask_column or "mask",
                                  image_size=image_size, seed=seed, external_test=external_test, subgroups=subgroups,
                                  group_column=group_column, split_column=split_column,
                                  allow_group_overlap=allow_group_overlap)
    if group_column or split_column:
        raise ConfigError("--group-column and --split-column read a manifest; a Decathlon folder is split case by "
                          "case: leave them out")
    return load_decathlon(path, seed=seed)
