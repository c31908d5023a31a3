"""A small VGG-style CNN: the fast default for 28 px images, and 28^3 volumes, on a CPU."""

from __future__ import annotations

from torch import nn

from medprune.models.registry import register_model


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def _block3d(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv3d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True)]


@register_model("smallcnn", modality="image", description="5-conv VGG-style CNN (0.14 M params), fast on CPU; "
                "4 Conv3d layers (0.09 M params) for volumes")
def build_smallcnn(input_shape: tuple[int, ...], n_classes: int, width: int | None = None,
                   dropout: float = 0.2) -> nn.Module:
    if len(input_shape) == 4:
        # A volume has 28x as many positions as an image: one conv before the first pooling, and half
        # the width, keep an epoch of 1,000 volumes 28^3 within seconds.
        w = width or 16
        return nn.Sequential(
            *_block3d(input_shape[0], w), nn.MaxPool3d(2),
            *_block3d(w, 2 * w), *_block3d(2 * w, 2 * w), nn.MaxPool3d(2),
            *_block3d(2 * w, 4 * w), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(4 * w, n_classes),
        )
    w = width or 32
    return nn.Sequential(
        *_block(input_shape[0], w), *_block(w, w), nn.MaxPool2d(2),
        *_block(w, 2 * w), *_block(2 * w, 2 * w), nn.MaxPool2d(2),
        *_block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout(dropout), nn.Linear(4 * w, n_classes),
    )
