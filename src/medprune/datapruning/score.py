"""Scores of how hard (or how redundant) each training case is, registered by name; higher is harder.

Scores that need a model train short proxy runs from scratch (a few epochs, several seeds) with the
same recipe as `medprune train`, so the score reflects early training dynamics, not a finished model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from medprune.data.dataset import Dataset
from medprune.models.registry import create_model
from medprune.registry import Registry
from medprune.training import TrainConfig, fit


@dataclass(frozen=True)
class ProxySettings:
    """The short proxy training runs scores are computed from."""

    model: str = "smallcnn"
    epochs: int = 3
    runs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    progress: bool = False
    device: str = "auto"  # where the proxy runs train (hardware.options.AcceleratorOptions)
    precision: str = "32"


def train_proxy(dataset: Dataset, settings: ProxySettings, run: int,
                on_epoch_end: Callable[[nn.Module, int], None] | None = None) -> nn.Module:
    """One short training run from scratch (seed `settings.seed + run`); returns the model after it."""
    seed = settings.seed + run
    torch.manual_seed(seed)
    model = create_model(settings.model, input_shape=dataset.input_shape, n_classes=dataset.n_classes,
                         modality=dataset.modality)
    # Scores describe training after a fixed number of epochs: no early stopping or weight averaging, and the
    # augmentation that benchmarks/data_pruning.py measured them with.
    config = TrainConfig(epochs=settings.epochs, lr=settings.lr, batch_size=settings.batch_size, seed=seed,
                         augment="light", class_weighting="off", average="none", device=settings.device,
                         precision=settings.precision)
    hook = (lambda epoch, _record: on_epoch_end(model, epoch)) if on_epoch_end else None
    fit(model, dataset, config, progress=settings.progress, on_epoch_end=hook, last_epoch=True)
    return model


class Score(ABC):
    name: ClassVar[str]
    uses_labels: ClassVar[bool] = True

    @abstractmethod
    def compute(self, dataset: Dataset, settings: ProxySettings) -> np.ndarray:
        """One score per training case, higher = harder (kept first)."""


SCORES: Registry[type[Score]] = Registry("score")


def register_score(cls: type[Score]) -> type[Score]:
    return SCORES.register(cls.name)(cls)
