"""The criterion contract: score every prunable weight; higher means more important to keep.

A criterion returns one saliency tensor per prunable layer (convolution, Linear, BatchNorm weight), the
shape of that layer's weight. Unstructured pruning ranks the entries; structured pruning sums them
per channel through Torch-Pruning's dependency groups (`importance.GroupScoreImportance`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medprune.models.conv import CONV_LAYERS
from medprune.data.batches import to_tensor
from medprune.data.dataset import Dataset
from medprune.registry import Registry

PRUNABLE = (*CONV_LAYERS, nn.Linear)
SCORED = (*CONV_LAYERS, nn.Linear, nn.modules.batchnorm._BatchNorm)

Scores = dict[nn.Module, torch.Tensor]


SEGMENTATION_BATCH = 8  # cases per calibration batch of a segmentation network (whole volumes are large)

@dataclass
class CalibrationData:
    """A few fixed training batches for gradient-based criteria (seeded, so scores repeat)."""

    batches: list[tuple[torch.Tensor, torch.Tensor]]
    input_shape: tuple[int, ...]

    @classmethod
    def from_dataset(cls, dataset: Dataset, n_batches: int, batch_size: int = 64, seed: int = 0) -> CalibrationData:
        train = dataset.split("train")
        if dataset.task == "segmentation":  # normalised volumes and their label maps; small batches bound memory
            batch_size = min(batch_size, SEGMENTATION_BATCH)
            order = np.random.default_rng(seed).permutation(len(train))[: n_batches * batch_size]
            return cls([(torch.from_numpy(train.x[idx]), torch.from_numpy(train.y[idx].astype(np.int64)))
                        for idx in np.array_split(order, max(1, int(np.ceil(len(order) / batch_size))))],
                       tuple(dataset.input_shape))
        order = np.random.default_rng(seed).permutation(len(train))[: n_batches * batch_size]
        batches = [(to_tensor(train.x[idx], dataset.preprocessing), torch.from_numpy(train.y[idx]))
                   for idx in np.array_split(order, max(1, int(np.ceil(len(order) / batch_size))))]
        return cls(batches=batches, input_shape=tuple(dataset.input_shape))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return iter(self.batches)


def scored_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, SCORED) and getattr(m, "weight", None) is not None]


def weight_of(module: nn.Module) -> torch.Tensor:
    """The effective weight, also while a torch.nn.utils.prune mask re-parametrizes it."""
    return module.weight_orig if hasattr(module, "weight_orig") else module.weight


def accumulate_gradients(model: nn.Module, data: CalibrationData, *, squared: bool = False) -> Scores:
    """Mean gradient (or mean squared gradient) of the loss per scored weight over the batches."""
    modules = scored_modules(model)
    sums = {m: torch.zeros_like(weight_of(m)) for m in modules}
    was_training = model.training
    model.eval()  # BatchNorm uses its running statistics: scores describe the deployed network
    for x, y in data:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        for m in modules:
            g = weight_of(m).grad
            if g is not None:
                sums[m] += g.detach() ** 2 if squared else g.detach()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    n = max(1, len(data.batches))
    return {m: s / n for m, s in sums.items()}


class Criterion(ABC):
    """Scores weights by how much the model needs them."""

    needs_data: bool = True
    # How per-weight scores combine into a channel score: "sum" adds the scores, "abs_sum" adds
    # signed scores and takes the magnitude (first-order Taylor of a whole channel's removal).
    aggregate: Literal["sum", "abs_sum"] = "sum"
    # Signed scores (GraSP) may be negative: negative means pruning the weight helps.
    signed: bool = False
    # Data-free criteria that must be re-scored while pruning (SynFlow) take several rounds.
    rounds: int = 1

    @abstractmethod
    def score(self, model: nn.Module, data: CalibrationData | None) -> Scores:
        """One tensor per scored module, shaped like its weight."""

    def weight_scores(self, model: nn.Module, data: CalibrationData | None) -> Scores:
        """Per-weight importance for unstructured ranking (non-negative unless signed by design)."""
        scores = self.score(model, data)
        return {m: s.abs() for m, s in scores.items()} if self.aggregate == "abs_sum" else scores


CRITERIA: Registry[type[Criterion]] = Registry("criterion")
