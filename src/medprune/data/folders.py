"""A folder of images laid out as `class_name/file` (optionally under `train/`, `val/`, `test/`).

PNG, JPEG, BMP, TIFF and DICOM files are read by `images.py` into uint8 grey or RGB arrays, so every
verb that takes MedMNIST files takes a folder too. Without split folders the cases are split
stratified and seeded, 70 / 10 / 20. The class names are the folder names, in sorted order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medprune.data.dataset import SPLITS, Dataset, Split, check_labels, task_for
from medprune.data.image_files import ImageFiles, files_digest, scan_images
from medprune.data.images import ImageReading, header_values, is_image_file
from medprune.data.medmnist import IMAGE_PREPROCESSING
from medprune.errors import DataError

FOLDER_SPLIT = (0.7, 0.1, 0.2)


def _class_files(folder: Path) -> dict[str, list[Path]]:
    classes = {d.name: sorted(f for f in d.rglob("*") if is_image_file(f))
               for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    return {name: files for name, files in classes.items() if files}


def split_cases(y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Stratified, seeded 70 / 10 / 20 split of the cases."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    try:
        train, rest = train_test_split(index, train_size=FOLDER_SPLIT[0], stratify=y, random_state=seed)
        val, test = train_test_split(rest, test_size=FOLDER_SPLIT[2] / (1 - FOLDER_SPLIT[0]), stratify=y[rest],
                                     random_state=seed)
    except ValueError as err:
        raise DataError(f"cannot make a stratified 70/10/20 split ({err}): each class needs at least 10 images, or "
                        "give train/, val/ and test/ folders") from None
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def image_preprocessing(reading: ImageReading, size: int) -> dict:
    """What a model trained on these images records, so every later verb and `predict` read files alike."""
    return {**IMAGE_PREPROCESSING, "reading": {**reading.to_dict(), "size": size}}


def dicom_subgroups(files: list[Path], subgroups: list[str]) -> dict[str, np.ndarray]:
    """Subgroup labels read from DICOM headers, for `--subgroup dicom:Field` names."""
    return {name: header_values(files, name.split(":", 1)[1]) for name in subgroups if name.startswith("dicom:")}


def load_image_folder(folder: Path, *, reading: ImageReading = ImageReading(), seed: int = 0,
                      subgroups: list[str] | None = None, source: dict | None = None, cache: Path | None = None,
                      workers: int = 0) -> Dataset:
    """Load `folder` as a dataset of images read per `reading` when used (`image_files.py`: `cache`, `workers`);
    `subgroups` may name DICOM header fields (`dicom:Manufacturer`).

    Raises:
        DataError: no class folders, unreadable images, class folders that differ across splits.
    """
    folder = Path(folder)
    split_dirs = {s: folder / s for s in SPLITS if (folder / s).is_dir()}
    if split_dirs and set(split_dirs) != set(SPLITS):
        missing = ", ".join(s for s in SPLITS if s not in split_dirs)
        raise DataError(f"{folder} has split folders but lacks {missing}/: give all of train/, val/ and test/, or none")
    layouts = {s: _class_files(d) for s, d in split_dirs.items()} if split_dirs else {"all": _class_files(folder)}
    class_names = sorted({name for classes in layouts.values() for name in classes})
    if len(class_names) < 2:
        raise DataError(f"{folder} holds {len(class_names)} class folder(s) with images: lay images out as "
                        "class_name/file, one folder per class")
    files = [(split, f, class_names.index(name)) for split, classes in layouts.items()
             for name, paths in classes.items() for f in paths]
    kept, size, dims = scan_images([f for _, f, _ in files], reading, cache)
    files = [files[i] for i in kept]
    paths = [f for _, f, _ in files]
    images = ImageFiles(paths, reading, size, cache=cache, workers=workers, dims=dims)
    meta = dicom_subgroups(paths, subgroups or [])
    labels = np.array([k for _, _, k in files], dtype=np.int64)
    split_of = np.array([s for s, _, _ in files])
    index = split_cases(labels, seed) if "all" in layouts else {s: np.flatnonzero(split_of == s) for s in SPLITS}
    splits = {name: Split(images.take(ix), labels[ix], {c: v[ix] for c, v in meta.items()})
              for name, ix in index.items()}
    check_labels(folder.name, splits, len(class_names))
    return Dataset(name=folder.name, modality="image", task=task_for(len(class_names)), class_names=class_names,
                   splits=splits, input_shape=images.shape[1:],
                   source={**(source or {"data": str(folder), "seed": seed}), "image_size": size},
                   checksum=files_digest(paths, folder), preprocessing=image_preprocessing(reading, size))
