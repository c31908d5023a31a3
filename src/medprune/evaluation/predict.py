"""Run a model over a split and return class probabilities."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medprune.data.batches import iterate_batches
from medprune.data.dataset import Split


@torch.no_grad()
def predict_proba(model: nn.Module, split: Split, preprocessing: dict, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities, shape (N, K), in the split's order."""
    was_training = model.training
    model.eval()
    chunks = [torch.softmax(model(x), dim=1) for x, _ in iterate_batches(split, batch_size, preprocessing=preprocessing)]
    model.train(was_training)
    return torch.cat(chunks).double().numpy()


def positive_or_all(probs: np.ndarray) -> np.ndarray:
    """Binary tasks are scored on P(class 1); multi-class keep all columns."""
    return probs[:, 1] if probs.shape[1] == 2 else probs
