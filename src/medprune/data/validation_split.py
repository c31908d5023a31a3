"""A validation split carved out of the training data, for files whose own one is too small to use."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from medprune.data.dataset import Dataset, Split
from medprune.data.image_files import ImageFiles
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
    x = ImageFiles.concat([train.x, val.x]) if isinstance(train.x, ImageFiles) else np.concatenate([train.x, val.x])
    y = np.concatenate([train.y, val.y])
    meta = {k: np.concatenate([train.meta[k], val.meta[k]]) for k in train.meta}
    groups = None if train.groups is None else np.concatenate([train.groups, val.groups])
    pooled = Split(x, y, meta, groups)
    try:
        if groups is not None:  # whole patients: a patient's images never sit in train and val
            keep, held = _group_carve(y, groups, fraction, seed)
        else:
            keep, held = train_test_split(np.arange(len(y)), test_size=fraction, stratify=y, random_state=seed)
    except ValueError as err:
        raise DataError(f"cannot carve a stratified validation split of {fraction:g} from {len(y)} cases ({err}): "
                        "each class needs at least 2 training cases") from None
    splits = {**dataset.splits, "train": pooled.subset(np.sort(keep)), "val": pooled.subset(np.sort(held))}
    return replace(dataset, splits=splits, source={**dataset.source, "val_fraction": fraction})


def _group_carve(y: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import StratifiedGroupKFold

    folds = max(2, round(1 / fraction))
    keep, held = next(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(y, y, groups))
    return keep, held
