"""Subset files: a kept share of a dataset's training split, by index, that `--data` accepts directly.

`subset.json` names its source (the `--data` value and options), the source file's md5 and the size
of its training split, so a subset is never applied to other data; validation and test stay whole.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from medprune._atomic import write_json_atomic
from medprune.data.dataset import Dataset
from medprune.errors import DataError

FORMAT = "medprune-subset"


def is_subset_file(path: str | Path) -> bool:
    return str(path).lower().endswith(".json")


def write_subset(path: Path, dataset: Dataset, indices: np.ndarray, record: dict[str, Any]) -> Path:
    """Write `subset.json`: the kept training indices with what a reader needs to check them."""
    payload = {"format": FORMAT, "source": dict(dataset.source), "md5": dataset.checksum,
               "n_train": len(dataset.split("train")), "indices": sorted(int(i) for i in indices), **record}
    write_json_atomic(Path(path), payload)
    return Path(path)


def read_subset(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"subset file {path} does not exist: write one with medprune data prune")
    try:
        payload = json.loads(path.read_text())
    except (ValueError, OSError) as err:
        raise DataError(f"{path} is not readable JSON ({type(err).__name__}): write it again with medprune data "
                        "prune") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "indices" not in payload:
        raise DataError(f"{path} is not a medprune subset file: pass the subset.json written by medprune data prune")
    indices = payload["indices"]
    if not isinstance(indices, list) or not indices:
        raise DataError(f"{path} lists no training cases: a subset must keep at least one case per class")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
        bad = next(i for i in indices if not isinstance(i, int) or isinstance(i, bool))
        raise DataError(f"{path} holds the index {bad!r}, not a whole number: indices are training-case numbers")
    if len(set(indices)) != len(indices):
        repeated = next(i for i in indices if indices.count(i) > 1)
        raise DataError(f"{path} lists the training case {repeated} more than once: each case may be kept once")
    return payload


def apply_subset(path: Path, load: Any, **options: Any) -> Dataset:
    """Load the subset's source with `load(data, **options)` and keep only the listed training cases."""
    payload = read_subset(path)
    source = dict(payload["source"])
    data = source.pop("data")
    dataset = load(data, **{**{k: v for k, v in source.items() if v is not None}, **options})
    train = dataset.split("train")
    if payload.get("md5") and dataset.checksum and payload["md5"] != dataset.checksum:
        raise DataError(f"{path} was made from another file (md5 {payload['md5']}, this {data} has "
                        f"{dataset.checksum}): make the subset again from this data")
    indices = np.asarray(payload["indices"], dtype=np.int64)
    if payload.get("n_train") != len(train) or (len(indices) and (indices.min() < 0 or indices.max() >= len(train))):
        raise DataError(f"{path} does not match {data}: it indexes a training split of {payload.get('n_train')} "
                        f"cases, this one has {len(train)}; make the subset again from this data")
    splits = dict(dataset.splits, train=train.subset(indices))
    name = f"{dataset.name}[{payload.get('score', 'subset')} {len(indices) / len(train):.2f}]"
    kept = {k: dataset.source[k] for k in ("positive_class", "val_fraction") if k in dataset.source}
    return replace(dataset, name=name, splits=splits, source={"data": str(path), **kept})
