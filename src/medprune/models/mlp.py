"""A multilayer perceptron for tabular risk scores."""

from __future__ import annotations

from torch import nn

from medprune.models.registry import register_model


@register_model("mlp", modality="table", description="2-hidden-layer MLP with BatchNorm and dropout, for tables")
def build_mlp(input_shape: tuple[int, ...], n_classes: int, hidden: int = 64, dropout: float = 0.3) -> nn.Module:
    return nn.Sequential(
        nn.Linear(input_shape[0], hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, hidden // 2), nn.BatchNorm1d(hidden // 2), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden // 2, n_classes),
    )
