"""The positive (disease) class of a binary task, which every binary metric is about.

Internally a binary dataset always holds its positive class at index 1, so P(positive) is column 1 of
every model's output and "sensitivity" is the sensitivity for the disease. A dataset whose disease class
comes first in its labels (BreastMNIST: 0 = malignant) is re-indexed on load, and the class names follow.
"""

from __future__ import annotations

import difflib
from dataclasses import replace

import numpy as np

from medprune.data.dataset import Dataset, Split
from medprune.errors import ConfigError, DataError

# The disease class of the official binary MedMNIST sets.
MEDMNIST_POSITIVE = {"pneumoniamnist": "pneumonia", "breastmnist": "malignant", "nodulemnist3d": "malignant",
                     "adrenalmnist3d": "hyperplasia", "vesselmnist3d": "aneurysm"}
# Label values that name the positive class of a table or a user's file without being told.
POSITIVE_SPELLINGS = ("1", "yes", "true", "positive")


def default_positive(class_names: list[str], flag: str | None = None) -> str | None:
    """The positive class when the user names none: the dataset's disease class, or a value meaning yes."""
    if flag in MEDMNIST_POSITIVE:
        return MEDMNIST_POSITIVE[flag]
    matches = [name for name in class_names if name.strip().lower() in POSITIVE_SPELLINGS]
    return matches[0] if len(matches) == 1 else None


def orient_positive(dataset: Dataset, positive: str | None, *, flag: str | None = None) -> Dataset:
    """Return `dataset` with its positive class at index 1 (binary tasks), recording it in `source`.

    Raises:
        ConfigError: a name that is not a class.
        DataError: a binary task whose positive class cannot be told and was not named.
    """
    names = list(dataset.class_names)
    if dataset.n_classes != 2:
        return dataset  # a positive class means nothing here; check_positive_applies refuses a user's one
    chosen = positive if positive is not None else default_positive(names, flag)
    if chosen is None:
        raise DataError(f"{dataset.name}: cannot tell which class is the disease (positive) class among "
                        f"{', '.join(repr(n) for n in names)}: name it with --positive-class NAME")
    if chosen not in names:
        close = difflib.get_close_matches(str(chosen), names, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"choose one of {', '.join(names)}"
        raise ConfigError(f"positive class '{chosen}' is not a class of {dataset.name}: {hint}")
    source = {**dataset.source, "positive_class": chosen}
    if names.index(chosen) == 1:
        return replace(dataset, source=source)
    splits = {key: Split(split.x, (1 - split.y).astype(np.int64), split.meta, split.groups)
              for key, split in dataset.splits.items()}
    return replace(dataset, class_names=[names[1], names[0]], splits=splits, source=source)


def check_positive_applies(dataset: Dataset, positive: str | None) -> None:
    """Refuse a positive class named by the user for a multi-class task."""
    if positive is not None and dataset.task == "segmentation":
        raise ConfigError("--positive-class applies to classification; segmentation is judged per structure: drop "
                          "the option")
    if positive is not None and dataset.n_classes != 2:
        raise ConfigError(f"--positive-class applies to binary tasks; {dataset.name} has {dataset.n_classes} classes: "
                          "drop the option")
