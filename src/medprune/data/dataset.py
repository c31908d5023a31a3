"""The in-memory dataset every verb works on: splits of inputs, labels and subgroup metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from medprune.data.image_files import ImageFiles
from medprune.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass
class Split:
    """One split. Images are uint8 (N, C, H, W), in memory or read from files when indexed (`ImageFiles`);
    tables are float32 (N, F) already encoded."""

    x: np.ndarray | ImageFiles
    y: np.ndarray  # int64 class indices, shape (N,)
    meta: dict[str, np.ndarray] = field(default_factory=dict)  # subgroup columns, aligned with y
    # The patient of each case as a salted hash (never the id itself), when the data names patients.
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, indices: np.ndarray) -> Split:
        x = self.x.take(indices) if isinstance(self.x, ImageFiles) else self.x[indices]  # files stay unread
        return Split(x, self.y[indices], {k: v[indices] for k, v in self.meta.items()},
                     None if self.groups is None else self.groups[indices])


@dataclass
class Dataset:
    """A classification dataset with train / val / test splits.

    `source` records how to load it again (the `--data` value and options), so a saved model can
    be evaluated on exactly the data it was trained on.
    """

    name: str
    modality: Literal["image", "table"]
    task: Literal["binary", "multiclass"]
    class_names: list[str]
    splits: dict[str, Split]
    input_shape: tuple[int, ...]  # (C, H, W) for images, (F,) for tables
    source: dict[str, Any]
    checksum: str = ""  # md5 of the source file
    feature_names: list[str] = field(default_factory=list)
    preprocessing: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise DataError(f"split '{name}' does not exist in {self.name}: choose one of "
                            f"{', '.join(self.splits)}")
        return self.splits[name]

    def describe(self) -> dict[str, Any]:
        """JSON summary: what a report needs to say which data was used."""
        return {
            "name": self.name,
            "modality": self.modality,
            "task": self.task,
            "class_names": list(self.class_names),
            "input_shape": list(self.input_shape),
            "n": {k: len(v) for k, v in self.splits.items()},
            "class_counts": {k: np.bincount(v.y, minlength=self.n_classes).tolist()
                             for k, v in self.splits.items()},
            "source": dict(self.source),
            "md5": self.checksum,
        }


def task_for(n_classes: int) -> Literal["binary", "multiclass"]:
    return "binary" if n_classes == 2 else "multiclass"


def check_labels(name: str, splits: dict[str, Split], n_classes: int) -> None:
    """Every split non-empty, labels integer classes in [0, n_classes)."""
    for split_name, split in splits.items():
        if len(split) == 0:
            raise DataError(f"{name}: the {split_name} split is empty: every split needs cases; "
                            "check the file or the split fractions")
        bad = (split.y < 0) | (split.y >= n_classes)
        if bad.any():
            raise DataError(
                f"{name}: {split_name} labels must be in 0..{n_classes - 1}, found "
                f"{int(split.y[bad][0])} ({int(bad.sum())} cases): fix the labels or the class list"
            )
    if n_classes < 2:
        raise DataError(f"{name}: only one class in the labels: a classifier needs at least two")
