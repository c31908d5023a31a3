"""Training-time augmentation of image and volume batches, chosen per modality.

Modes: `none`; `light`, shifts of up to 2 px (and flips for volumes); `strong`, light plus small rotations
and zooms, intensity jitter, and left-right flips where the anatomy allows them; `corruptions`, light plus
a random MedMNIST-C corruption on half of each batch (robustness to degraded images); `auto`, the mode
medprune picks for the data (see `choose`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MODES = ("auto", "none", "light", "strong", "corruptions")

# Data whose left-right mirror image is still a plausible case: fundus photographs (left and right eyes are
# mirror images), skin, pathology and blood smears, shape masks of paired organs. Chest X-rays are not:
# a mirrored chest shows the heart on the right (dextrocardia). Data not listed is never flipped.
MIRROR_SAFE = frozenset({"retinamnist", "dermamnist", "pathmnist", "bloodmnist", "adrenalmnist3d",
                         "adrenalmnist3d@64"})

# Quarter turns of fundus images were tried and not adopted: docs/experiments.md.

# Below this many training cases `auto` picks `strong`: small sets overfit without it, large ones gain little
# and pay its cost in every step.
STRONG_BELOW = 2000


def choose(mode: str, *, modality: str, n_train: int) -> str:
    """The mode actually used: tables are never augmented; `auto` depends on the size of the training set."""
    if modality != "image":
        return "none"
    if mode != "auto":
        return mode
    return "strong" if n_train < STRONG_BELOW else "light"


def mirror_safe(dataset_name: str) -> bool:
    return dataset_name.split(" ")[0].lower() in MIRROR_SAFE


def flips_images(mode: str, *, dataset_name: str, input_shape: tuple[int, ...]) -> bool:
    """Whether `mode` flips this data's 2D images left-right: only `strong`, only for mirror-safe data (volumes
    are flipped along every axis by `shift`, whatever their name)."""
    return mode == "strong" and len(input_shape) == 3 and mirror_safe(dataset_name)


def shift(x: torch.Tensor, rng: np.random.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translation by up to `max_shift` px (reflect padding), one offset per image or volume.

    Volumes are also flipped along each axis with probability 1/2: shape masks and CT crops have no
    preferred orientation at this scale.
    """
    dims = x.dim() - 2
    padded = F.pad(x, [max_shift] * (2 * dims), mode="reflect")
    sizes = x.shape[2:]
    offsets = rng.integers(0, 2 * max_shift + 1, size=(len(x), dims))
    shifted = torch.stack([padded[(i, slice(None), *(slice(o, o + n) for o, n in zip(offset, sizes)))]
                           for i, offset in enumerate(offsets)])
    if dims < 3:
        return shifted
    flips = rng.random((len(x), dims)) < 0.5
    return torch.stack([v.flip([1 + a for a in range(dims) if f[a]]) if f.any() else v
                        for v, f in zip(shifted, flips)])


def _rotation(angles: np.ndarray) -> np.ndarray:
    """Rotation matrix: one angle in 2D, three (about each axis, composed) in 3D."""
    if len(angles) == 1:
        c, s = math.cos(angles[0]), math.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    matrix = np.eye(3)
    for axis, angle in enumerate(angles):
        c, s = math.cos(angle), math.sin(angle)
        plane = [a for a in range(3) if a != axis]
        r = np.eye(3)
        r[np.ix_(plane, plane)] = [[c, -s], [s, c]]
        matrix = matrix @ r
    return matrix


def strong(x: torch.Tensor, rng: np.random.Generator, *, mirror: bool, max_degrees: float = 10.0,
           max_zoom: float = 0.1, max_brightness: float = 0.1, max_contrast: float = 0.1) -> torch.Tensor:
    """Shifts, a rotation of up to `max_degrees`, a zoom of up to `max_zoom` either way, brightness and
    contrast jitter (on normalised intensities), and left-right flips of images when `mirror` (volumes are
    flipped as in `shift`)."""
    x = shift(x, rng)
    n, dims = len(x), x.dim() - 2
    angles = np.radians(rng.uniform(-max_degrees, max_degrees, size=(n, 1 if dims == 2 else 3)))
    zooms = rng.uniform(1 - max_zoom, 1 + max_zoom, size=n)
    theta = np.zeros((n, dims, dims + 1))
    for i in range(n):
        theta[i, :, :dims] = _rotation(angles[i]) / zooms[i]
    grid = F.affine_grid(torch.as_tensor(theta, dtype=x.dtype), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if mirror and dims == 2:
        flips = torch.as_tensor(rng.random(n) < 0.5)
        x = torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)
    shape = (n,) + (1,) * (dims + 1)
    contrast = torch.as_tensor(rng.uniform(1 - max_contrast, 1 + max_contrast, size=n), dtype=x.dtype).view(shape)
    brightness = torch.as_tensor(rng.uniform(-max_brightness, max_brightness, size=n), dtype=x.dtype).view(shape)
    mean = x.mean(dim=tuple(range(1, x.dim())), keepdim=True)
    return (x - mean) * contrast + mean + brightness
