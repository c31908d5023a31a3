"""The convolution layers pruning, low-rank and checkpoints handle: 1D, 2D and 3D alike."""

from __future__ import annotations

from torch import nn

CONV_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
