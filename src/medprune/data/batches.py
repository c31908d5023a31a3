"""Turn stored arrays into model-ready float tensors, batch by batch."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from medprune.data.dataset import Split
from medprune.data.image_files import ImageFiles
from medprune.errors import DataError


def to_tensor(x: np.ndarray, preprocessing: dict) -> torch.Tensor:
    """uint8 images -> normalised float32 (per the recorded preprocessing); tables pass through."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    if t.dtype == torch.uint8:
        t = t.float().mul_(preprocessing.get("scale", 1 / 255))
        t = t.sub_(_per_channel(preprocessing.get("mean", 0.0), t)).div_(_per_channel(preprocessing.get("std", 1.0), t))
    return t.float()


def _per_channel(value: float | list[float], t: torch.Tensor) -> float | torch.Tensor:
    """A scalar, or one value per channel shaped to broadcast over (N, C, *spatial)."""
    if not isinstance(value, (list, tuple)):
        return value
    return torch.tensor(value, dtype=t.dtype).reshape(1, -1, *([1] * (t.dim() - 2)))


def iterate_batches(split: Split, batch_size: int, *, preprocessing: dict,
                    order: np.ndarray | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (inputs, labels) in `order` (default: stored order)."""
    order = np.arange(len(split)) if order is None else order
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    for idx, x in zip(batches, read_batches(split.x, batches)):
        yield to_tensor(x, preprocessing), torch.from_numpy(split.y[idx])


def read_batches(x: np.ndarray | ImageFiles, batches: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The stored arrays of each batch of indices: images on disk are read by DataLoader workers if asked."""
    if not isinstance(x, ImageFiles) or x.workers == 0:
        yield from (x[idx] for idx in batches)
        return
    # Its own generator: seeding the workers must not draw from the global RNG, or reading in workers
    # would change the dropout masks of training and the run would not repeat.
    loader = torch.utils.data.DataLoader(_IndexedBatches(x, batches), batch_size=None, num_workers=x.workers,
                                         collate_fn=_as_is, prefetch_factor=2, generator=torch.Generator(),
                                         multiprocessing_context=_worker_context())
    for batch in loader:
        if isinstance(batch, str):  # a file failed in a worker: its one-line message, not a worker traceback
            raise DataError(batch)
        yield batch


def _worker_context():
    """Workers started from a fork server (which has imported the readers once), not forked from this process:
    a fork copies the thread pools of runtimes already running here (OpenVINO's, ONNX Runtime's), and a
    process that had run an OpenVINO model crashed when training forked its readers."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["medprune.data.batches"])
    return context


class _IndexedBatches(torch.utils.data.Dataset):
    def __init__(self, x: ImageFiles, batches: list[np.ndarray]) -> None:
        self.x, self.batches = x, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> np.ndarray | str:
        try:
            return self.x[self.batches[i]]
        except DataError as err:
            return str(err)


def _as_is(batch: np.ndarray) -> np.ndarray:
    return batch
