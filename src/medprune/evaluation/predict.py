"""Run a model over a split and return class probabilities."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medprune.data.batches import iterate_batches
from medprune.data.dataset import Split
from medprune.errors import DataError
from medprune.hardware.device import device_of


@torch.no_grad()
def predict_proba(model: nn.Module, split: Split, preprocessing: dict, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities, shape (N, K), in the split's order."""
    was_training, device = model.training, device_of(model)
    model.eval()
    chunks = [torch.softmax(model(x.to(device)), dim=1).cpu()
              for x, _ in iterate_batches(split, batch_size, preprocessing=preprocessing)]
    model.train(was_training)
    return torch.cat(chunks).double().numpy()


def check_finite(probs: np.ndarray, model_name: str) -> np.ndarray:
    """Refuse NaN or infinite model outputs: a statistic computed over them would be silently wrong."""
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        raise DataError(f"model {model_name} gives NaN or infinite outputs on {int(bad.sum())} of {len(bad)} cases "
                        f"(first: case {int(np.flatnonzero(bad)[0])}): check its weights and the input data for NaN "
                        "values")
    return probs


def positive_or_all(probs: np.ndarray) -> np.ndarray:
    """Binary tasks are scored on P(class 1); multi-class keep all columns."""
    return probs[:, 1] if probs.shape[1] == 2 else probs
