"""One entry point for every data source: a MedMNIST name, an .npz path or a CSV table."""

from __future__ import annotations

import re
from pathlib import Path

from medprune.data._medmnist_info import MEDMNIST, identify_official
from medprune.data.dataset import Dataset
from medprune.data.segmentation import SegmentationDataset, is_segmentation_source, load_segmentation
from medprune.data.fetch import locate_medmnist, verified_md5
from medprune.data.folders import load_image_folder
from medprune.data.images import ImageReading
from medprune.data.manifest import load_manifest
from medprune.data.medmnist import load_medmnist_npz
from medprune.data.positive import orient_positive
from medprune.data.subset import apply_subset
from medprune.data.table import MissingPolicy, load_table
from medprune.data.validation_split import carve_validation
from medprune.errors import ConfigError, DataError
from medprune.registry import Registry

DATASETS: Registry = Registry("dataset")
for _flag, _info in MEDMNIST.items():
    DATASETS.register(_flag)(_info)

_NAME = re.compile(r"^(?P<flag>[a-z0-9]+)(@(?P<size>\d+))?$")


def parse_dataset_name(data: str) -> tuple[str, int]:
    """'pneumoniamnist@64' -> ('pneumoniamnist', 64)."""
    match = _NAME.match(data.strip().lower())
    if not match:
        raise ConfigError(f"--data '{data}' is neither a file nor a dataset name: use a MedMNIST name "
                          "such as pneumoniamnist or pneumoniamnist@64, or a path to .npz / .csv")
    flag, size = match["flag"], int(match["size"] or 28)
    info = DATASETS.get(flag)
    if size not in info.md5:
        raise ConfigError(f"MedMNIST size {size} does not exist for {flag}: choose one of "
                          f"{', '.join(map(str, info.md5))}")
    if "multi-label" in info.task:
        raise ConfigError(f"{flag} is a multi-label dataset: only binary and multi-class tasks are "
                          "supported; choose another dataset")
    return flag, size


def load_data(data: str | Path, *, data_dir: Path | None = None, label_column: str | None = None,
              subgroups: list[str] | None = None, subgroups_as_input: bool = False,
              missing: MissingPolicy = "error", seed: int = 0, allow_download: bool = True,
              extra_meta: list[str] | None = None, encoding: dict | None = None,
              positive_class: str | None = None, val_fraction: float | None = None,
              classes: list[str] | None = None, image_size: int | None = None,
              channels: int | None = None, image_column: str | None = None, split_column: str | None = None,
              group_column: str | None = None, allow_group_overlap: bool = False,
              window: tuple[float, float] | list[float] | None = None, skip_unreadable: bool = False,
              cache: str | Path | None = None, workers: int = 0, allow_columns: list[str] | None = None,
              mask_column: str | None = None, external_test: str | None = None) -> Dataset | SegmentationDataset:
    """Load a dataset from a MedMNIST name (`pneumoniamnist@64`), an `.npz` or `.csv` path, or a
    `subset.json` (a kept share of another dataset's training split). `encoding` is a saved model's
    table encoding, applied by column name instead of fitting a new one. A binary task's positive
    (disease) class, `positive_class` or the dataset's default, is held at class index 1. With
    `val_fraction`, the validation split is carved (stratified, seeded) out of train and val pooled.
    `classes` names the classes of a user's `.npz` by index (classes without training cases allowed).
    A folder of images (`class_name/file`) is read at `image_size` px (default: the files' own size) with
    `channels` (1 grey, 3 RGB) and an intensity `window` (center, width; DICOM); so is a CSV manifest with
    `image_column` (paths), `label_column`, and optionally `split_column` and `group_column` (patients: splits are
    made by patient). `subgroups` may name DICOM header fields (`dicom:Manufacturer`). Their images are read
    when used, in `workers` DataLoader processes while training, decoded arrays kept in `cache` if given. A table
    never feeds an identifier or file path column to the model; `allow_columns` names those that only look like
    identifiers. Segmentation data (a Decathlon folder or dataset.json, or a manifest with `mask_column`) gives a
    `SegmentationDataset`; `external_test` (COLUMN=VALUE) makes those rows its test split.

    Raises:
        DataError / ConfigError / UnknownNameError with a one-line explanation.
    """
    if is_segmentation_source(data, mask_column):
        return load_segmentation(data, mask_column=mask_column, image_column=image_column, image_size=image_size,
                                 seed=seed, external_test=external_test, subgroups=subgroups,
                                 group_column=group_column, split_column=split_column,
                                 allow_group_overlap=allow_group_overlap)
    if external_test is not None:
        raise ConfigError("--external-test holds out rows of a segmentation manifest: give --mask-column too")
    reading = ImageReading(image_size, channels or 1, tuple(window) if window is not None else None, skip_unreadable)
    if workers < 0:
        raise ConfigError(f"--workers must be 0 (read in the main process) or more, got {workers}")
    streaming = {"cache": Path(cache) if cache else None, "workers": workers}
    if image_column is not None:
        if not str(data).lower().endswith(".csv"):
            raise ConfigError("--image-column reads a CSV manifest: pass --data path/to/labels.csv")
        source = {"data": str(data), "label_column": label_column, "image_column": image_column,
                  "split_column": split_column, "group_column": group_column, "allow_group_overlap": allow_group_overlap,
                  "subgroups": list(subgroups or []), "seed": seed, **_reading_source(reading, streaming)}
        dataset = load_manifest(Path(data), image_column=image_column, label_column=label_column, split_column=split_column,
                                group_column=group_column, allow_group_overlap=allow_group_overlap,
                                subgroups=[*(subgroups or []), *(extra_meta or [])], reading=reading,
                                seed=seed, source=source, **streaming)
        dataset = orient_positive(dataset, positive_class)
        return carve_validation(dataset, val_fraction, seed) if val_fraction is not None else dataset
    dataset = _load(data, data_dir=data_dir, label_column=label_column, subgroups=subgroups,
                    subgroups_as_input=subgroups_as_input,
                    missing=missing, seed=seed, allow_download=allow_download, extra_meta=extra_meta,
                    encoding=encoding, positive_class=positive_class, classes=classes, reading=reading,
                    streaming=streaming, allow_columns=allow_columns)
    if val_fraction is not None and not str(data).lower().endswith(".json"):
        dataset = carve_validation(dataset, val_fraction, seed)
    return dataset


def _reading_source(reading: ImageReading, streaming: dict) -> dict:
    """How image files were read, as recorded in `source` for every later verb (the size is added on load)."""
    return {"channels": reading.channels, "window": list(reading.window) if reading.window else None,
            "skip_unreadable": reading.skip_unreadable,
            "cache": str(streaming["cache"]) if streaming["cache"] else None}


def _load(data: str | Path, *, data_dir: Path | None, label_column: str | None, subgroups: list[str] | None,
          subgroups_as_input: bool, missing: MissingPolicy, seed: int, allow_download: bool,
          extra_meta: list[str] | None, encoding: dict | None, positive_class: str | None,
          classes: list[str] | None, reading: ImageReading, streaming: dict,
          allow_columns: list[str] | None = None) -> Dataset:
    text = str(data)
    suffix = Path(text).suffix.lower()
    if Path(text).is_dir():
        names = [*(subgroups or []), *(extra_meta or [])]
        if any(not n.startswith("dicom:") for n in names):
            raise ConfigError("an image folder carries no subgroup columns: use a manifest CSV with the columns, or "
                              "DICOM header fields such as --subgroup dicom:Manufacturer")
        source = {"data": text, "subgroups": list(subgroups or []), "seed": seed, **_reading_source(reading, streaming)}
        folder = load_image_folder(Path(text), reading=reading, seed=seed, subgroups=names, source=source, **streaming)
        return orient_positive(folder, positive_class)
    if suffix == ".json":  # a subset written by `medprune data prune`
        return apply_subset(Path(text), load_data, data_dir=data_dir, allow_download=allow_download,
                            extra_meta=extra_meta, encoding=encoding,
                            **({"positive_class": positive_class} if positive_class else {}))
    if suffix == ".csv":
        source = {"data": text, "label_column": label_column, "subgroups": list(subgroups or []),
                  "subgroups_as_input": subgroups_as_input, "missing": missing, "seed": seed,
                  **({"allow_columns": list(allow_columns)} if allow_columns else {})}
        table = load_table(Path(text), label_column=label_column, subgroups=subgroups, subgroups_as_input=subgroups_as_input,
                           missing=missing, seed=seed, extra_meta=extra_meta, source=source, encoding=encoding,
                           allow_columns=allow_columns)
        return orient_positive(table, positive_class)
    if subgroups or extra_meta:
        raise ConfigError("--subgroup needs a CSV table: MedMNIST images carry no subgroup columns")
    if suffix == ".npz":
        if not Path(text).is_file():
            raise DataError(f"{text} does not exist: check the path given to --data")
        source = {"data": text, **({"classes": list(classes)} if classes else {})}
        official = None if classes else identify_official(verified_md5(Path(text)))
        if official is not None:  # the official file read by path: its own names and positive class
            flag, size = official
            dataset = load_medmnist_npz(Path(text), info=MEDMNIST[flag], name=flag if size == 28 else f"{flag}@{size}",
                                        source=source)
            return orient_positive(dataset, positive_class, flag=flag)
        return orient_positive(load_medmnist_npz(Path(text), source=source, classes=classes), positive_class)
    if classes:
        raise ConfigError("--classes names the classes of your own .npz file; MedMNIST and table classes are fixed "
                          "by the dataset")
    flag, size = parse_dataset_name(text)
    path = locate_medmnist(flag, size, data_dir, allow_download=allow_download)
    name = flag if size == 28 else f"{flag}@{size}"
    dataset = load_medmnist_npz(path, info=MEDMNIST[flag], name=name, source={"data": name})
    return orient_positive(dataset, positive_class, flag=flag)

