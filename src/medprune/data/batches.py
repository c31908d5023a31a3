"""Turn stored arrays into model-ready float tensors, batch by batch."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from medprune.data.dataset import Split


def to_tensor(x: np.ndarray, preprocessing: dict) -> torch.Tensor:
    """uint8 images -> normalised float32 (per the recorded preprocessing); tables pass through."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    if t.dtype == torch.uint8:
        t = t.float().mul_(preprocessing.get("scale", 1 / 255))
        t = t.sub_(preprocessing.get("mean", 0.0)).div_(preprocessing.get("std", 1.0))
    return t.float()


def iterate_batches(split: Split, batch_size: int, *, preprocessing: dict,
                    order: np.ndarray | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (inputs, labels) in `order` (default: stored order)."""
    order = np.arange(len(split)) if order is None else order
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield to_tensor(split.x[idx], preprocessing), torch.from_numpy(split.y[idx])
