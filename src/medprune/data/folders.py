"""A folder of images laid out as `class_name/file` (optionally under `train/`, `val/`, `test/`).

PNG, JPEG, BMP and TIFF are read with Pillow, resized to `image_size` and kept as uint8 grey or RGB, so
every verb that takes MedMNIST files takes a folder too. Without split folders the cases are split
stratified and seeded, 70 / 10 / 20. The class names are the folder names, in sorted order.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from medprune.data.dataset import SPLITS, Dataset, Split, check_labels, task_for
from medprune.data.medmnist import IMAGE_PREPROCESSING
from medprune.errors import ConfigError, DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
FOLDER_SPLIT = (0.7, 0.1, 0.2)


def _class_files(folder: Path) -> dict[str, list[Path]]:
    classes = {d.name: sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
               for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    return {name: files for name, files in classes.items() if files}


def read_image(path: Path, size: int, mode: str) -> np.ndarray:
    """An 8-bit image as a uint8 array (H, W) or (H, W, 3), resized to `size` px."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode in ("I;16", "I;16B", "I", "F"):
                raise DataError(f"{path} is a {image.mode} (16-bit or float) image: this version reads 8-bit images; "
                                "convert it, or use an .npz")
            image = image.convert(mode).resize((size, size), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"{path} cannot be read as an image ({type(err).__name__}): replace or remove the file") from None


def read_images(files: list[Path], size: int, channels: int) -> np.ndarray:
    """(N, C, H, W) uint8 images of `channels` (1 grey, 3 RGB), each resized to `size` px."""
    images = np.stack([read_image(f, size, "L" if channels == 1 else "RGB") for f in files])
    return np.ascontiguousarray(images[:, None] if channels == 1 else images.transpose(0, 3, 1, 2))


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


def load_image_folder(folder: Path, *, image_size: int = 28, channels: int = 1, seed: int = 0,
                      source: dict | None = None) -> Dataset:
    """Load `folder` as a dataset of `channels` (1 grey, 3 RGB) images of `image_size` px.

    Raises:
        DataError: no class folders, unreadable images, class folders that differ across splits.
        ConfigError: an image size or channel count out of range.
    """
    folder = Path(folder)
    if not 8 <= image_size <= 1024:
        raise ConfigError(f"--image-size must be between 8 and 1024 px, got {image_size}")
    if channels not in (1, 3):
        raise ConfigError(f"--channels must be 1 (grey) or 3 (RGB), got {channels}")
    split_dirs = {s: folder / s for s in SPLITS if (folder / s).is_dir()}
    if split_dirs and set(split_dirs) != set(SPLITS):
        missing = ", ".join(s for s in SPLITS if s not in split_dirs)
        raise DataError(f"{folder} has split folders but lacks {missing}/: give all of train/, val/ and test/, or none")
    layouts = {s: _class_files(d) for s, d in split_dirs.items()} if split_dirs else {"all": _class_files(folder)}
    class_names = sorted({name for classes in layouts.values() for name in classes})
    if len(class_names) < 2:
        raise DataError(f"{folder} holds {len(class_names)} class folder(s) with images: lay images out as "
                        "class_name/file, one folder per class")
    digest = hashlib.md5()
    arrays = {}
    for split, classes in layouts.items():
        files = [(f, class_names.index(name)) for name, paths in classes.items() for f in paths]
        images = read_images([f for f, _ in files], image_size, channels)
        for f, _ in files:
            digest.update(str(f.relative_to(folder)).encode())
        arrays[split] = (images, np.array([k for _, k in files], dtype=np.int64))
    digest.update(b"".join(x.tobytes() for x, _ in arrays.values()))
    if "all" in arrays:
        x, y = arrays.pop("all")
        arrays = {name: (x[idx], y[idx]) for name, idx in split_cases(y, seed).items()}
    splits = {name: Split(x, y) for name, (x, y) in arrays.items()}
    check_labels(folder.name, splits, len(class_names))
    return Dataset(name=folder.name, modality="image", task=task_for(len(class_names)), class_names=class_names,
                   splits=splits, input_shape=(channels, image_size, image_size),
                   source=source or {"data": str(folder), "image_size": image_size, "channels": channels, "seed": seed},
                   checksum=digest.hexdigest(), preprocessing=dict(IMAGE_PREPROCESSING))
