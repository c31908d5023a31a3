"""A validation split carved out of the training data, for files whose own one is too small to use."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from medprune.data.dataset import Dataset, Split
from medprune.errors import ConfigError, DataError


def carve_validation(dataset: Dataset, fraction: float, seed: int = 0) -> Dataset:
    """Pool the train and val splits and draw a stratified, seeded validation split of `fraction` from them.

    The test split is never touched. The choice is recorded in `source`, so every later verb reloads the
    same splits.
    """
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise ConfigError(f"--val-fraction must be in (0, 1), got {fraction:g}: 0.2 keeps a fifth for validation")
    train, val = dataset.split("train"), dataset.split("val")
    x = np.concatenate([train.x, val.x])
    y = np.concatenate([train.y, val.y])
    meta = {k: np.concatenate([train.meta[k], val.meta[k]]) for k in train.meta}
    pooled = Split(x, y, meta)
    try:
        keep, held = train_test_split(np.arange(len(y)), test_size=fraction, stratify=y, random_state=seed)
    except ValueError as err:
        raise DataError(f"cannot carve a stratified validation split of {fraction:g} from {len(y)} cases ({err}): "
                        "each class needs at least 2 training cases") from None
    splits = {**dataset.splits, "train": pooled.subset(np.sort(keep)), "val": pooled.subset(np.sort(held))}
    return replace(dataset, splits=splits, source={**dataset.source, "val_fraction": fraction})
