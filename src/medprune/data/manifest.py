"""A manifest: a CSV with one row per image (path relative to the CSV, label, and optionally split, patient
and subgroup columns), read into the same dataset as a folder of images.

With a patient column the splits are made by patient (stratified, seeded, 70 / 10 / 20): a patient's
images never sit in two splits. Given splits that put one patient in two splits are refused unless the
user says the overlap is intended.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from medprune.data.csv_file import read_csv
from medprune.data.dataset import SPLITS, Dataset, Split, check_labels, task_for
from medprune.data.folders import FOLDER_SPLIT, dicom_subgroups, image_preprocessing, split_cases
from medprune.data.image_files import ImageFiles, files_digest, scan_images
from medprune.data.images import ImageReading
from medprune.errors import ConfigError, DataError


def group_split(y: np.ndarray, groups: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Stratified splits of whole groups: 2 of 10 folds test, 1 validation, the rest training."""
    from sklearn.model_selection import StratifiedGroupKFold

    if len(np.unique(groups)) < 10:
        raise DataError(f"only {len(np.unique(groups))} patients: a patient-level 70/10/20 split needs at least 10; "
                        "give a --split-column instead")
    folds = list(StratifiedGroupKFold(n_splits=10, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups))
    test = np.concatenate([folds[0][1], folds[1][1]])
    return {"train": np.sort(np.concatenate([f[1] for f in folds[3:]])), "val": np.sort(folds[2][1]),
            "test": np.sort(test)}


def salted(groups: np.ndarray) -> np.ndarray:
    """Patient ids as hashes with a salt drawn for this load: cases can be matched, ids never recovered."""
    salt = os.urandom(16)
    return np.array([hashlib.sha256(salt + g.encode()).hexdigest()[:16] for g in groups])


def given_splits(frame, split_column: str, groups: np.ndarray | None, allow_group_overlap: bool,
                  name: str) -> np.ndarray:
    """The split of every row, checked: train / val / test only, and no patient in two splits unless allowed."""
    values = frame[split_column].astype(str).str.strip().str.lower().to_numpy()
    bad = sorted(set(values) - set(SPLITS))
    if bad:
        raise DataError(f"{name}: column '{split_column}' holds {bad[0]!r}: split values are train, val, test")
    if groups is not None and not allow_group_overlap:
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            shared = set(groups[values == a]) & set(groups[values == b])
            if shared:
                # data row numbers (1 = the first row under the header), never the patient ids themselves
                rows = np.flatnonzero(np.isin(groups, list(shared)) & np.isin(values, (a, b))) + 1
                shown = ", ".join(map(str, rows[:6])) + (f" and {len(rows) - 6} more" if len(rows) > 6 else "")
                raise DataError(f"{len(shared)} patients have images in both {a} and {b} (data rows {shown}): that is "
                                "leakage; fix the splits, or pass --allow-group-overlap if it is intended")
    return values


def image_paths(frame, image_column: str, path: Path) -> list[Path]:
    """The manifest's image files, relative to its folder; an empty cell is refused by its row number (it would
    otherwise read as a file named 'nan')."""
    empty = np.flatnonzero(frame[image_column].isna().to_numpy() | (frame[image_column].astype(str).str.strip() == ""))
    if len(empty):
        raise DataError(f"{path.name}: {len(empty)} rows have no '{image_column}' path (first: data row {empty[0] + 1}): "
                        "fill them or remove those rows")
    return [path.parent / str(p) for p in frame[image_column]]


def load_manifest(path: Path, *, image_column: str, label_column: str | None, split_column: str | None = None,
                  group_column: str | None = None, allow_group_overlap: bool = False,
                  subgroups: list[str] | None = None, reading: ImageReading = ImageReading(), seed: int = 0,
                  source: dict | None = None, cache: Path | None = None, workers: int = 0) -> Dataset:
    """Load the images a manifest lists (read when used: `image_files.py`, with `cache` and `workers`).

    Raises:
        DataError: missing columns, files or labels; split values other than train/val/test; a patient in two
            given splits (unless `allow_group_overlap`).
    """
    path = Path(path)
    frame = read_csv(path, "a manifest")
    columns = [c for c in subgroups or [] if not c.startswith("dicom:")]
    needed = [c for c in (image_column, label_column, split_column, group_column, *columns) if c]
    if not label_column:
        raise DataError(f"{path.name} is a manifest: name the label column with --label-column COLUMN")
    if label_column in columns:
        raise ConfigError(f"--subgroup {label_column} is the label column: a subgroup splits patients by something other "
                          "than their diagnosis; choose another column such as site or sex")
    for column in needed:
        if column not in frame.columns:
            raise DataError(f"column '{column}' is not in {path.name}: choose one of {', '.join(map(str, frame.columns))}")
    if frame[label_column].isna().any():
        raise DataError(f"{path.name}: {int(frame[label_column].isna().sum())} rows have no '{label_column}' label")
    class_values = sorted(frame[label_column].unique().tolist(), key=str)
    y = frame[label_column].map({v: i for i, v in enumerate(class_values)}).to_numpy(np.int64)
    files = image_paths(frame, image_column, path)
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise DataError(f"{path.name} lists {len(missing)} images that do not exist (first: {missing[0]}): paths are "
                        "relative to the manifest")
    groups = frame[group_column].astype(str).to_numpy() if group_column else None
    given = given_splits(frame, split_column, groups, allow_group_overlap, path.name) if split_column else None
    kept, size, dims = scan_images(files, reading, cache)  # unreadable files skipped (if asked) before splitting
    frame, files, y = frame.iloc[kept].reset_index(drop=True), [files[i] for i in kept], y[kept]
    images = ImageFiles(files, reading, size, cache=cache, workers=workers, dims=dims)
    if given is not None:
        index = {s: np.flatnonzero(given[kept] == s) for s in SPLITS}
    elif groups is not None:
        index = group_split(y, groups[kept], seed)
    else:
        index = split_cases(y, seed)
    meta = {c: frame[c].to_numpy() for c in columns} | dicom_subgroups(files, subgroups or [])
    hashed = salted(groups[kept]) if groups is not None else None
    splits = {s: Split(images.take(ix), y[ix], {c: v[ix] for c, v in meta.items()},
                       None if hashed is None else hashed[ix]) for s, ix in index.items()}
    class_names = [str(v) for v in class_values]
    check_labels(path.name, splits, len(class_names))
    digest = hashlib.md5(path.read_bytes() + files_digest(files, path.parent).encode()).hexdigest()
    return Dataset(name=path.stem, modality="image", task=task_for(len(class_names)), class_names=class_names,
                   splits=splits, input_shape=images.shape[1:],
                   source={**(source or {"data": str(path)}), "image_size": size}, checksum=digest,
                   preprocessing={**image_preprocessing(reading, size), "split": dict(zip(SPLITS, FOLDER_SPLIT))})
