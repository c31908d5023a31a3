"""The convolution layers pruning, low-rank and checkpoints handle: 1D, 2D and 3D alike."""

from __future__ import annotations

from torch import nn

CONV_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Up-sampling convolutions of U-Net decoders: pruning narrows them as members of other layers' channel groups
# (their weight is (in, out, ...), so no criterion scores them directly); checkpoints record their widths.
TRANSPOSED_CONV_LAYERS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
