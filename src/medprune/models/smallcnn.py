"""A small VGG-style CNN: the fast default for 28 px images on a CPU."""

from __future__ import annotations

from torch import nn

from medprune.models.registry import register_model


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


@register_model("smallcnn", modality="image", description="5-conv VGG-style CNN (0.14 M params), fast on CPU")
def build_smallcnn(input_shape: tuple[int, ...], n_classes: int, width: int = 32,
                   dropout: float = 0.2) -> nn.Module:
    w = width
    return nn.Sequential(
        *_block(input_shape[0], w), *_block(w, w), nn.MaxPool2d(2),
        *_block(w, 2 * w), *_block(2 * w, 2 * w), nn.MaxPool2d(2),
        *_block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout(dropout), nn.Linear(4 * w, n_classes),
    )
