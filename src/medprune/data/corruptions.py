"""Realistic image corruptions at five severities, by modality: old scanners, low doses, lossy archives.

The corruptions and their severity parameters are MedMNIST-C's (Di Salvo et al. 2024, "MedMNIST-C:
Comprehensive benchmark and improved classifier robustness by simulating realistic image corruptions"):
for grey 2D images the chest X-ray (PneumoniaMNIST) set, for RGB 2D images the fundus (RetinaMNIST)
set. Volumes get the grey set's intensity and noise corruptions and a 3D blur and pixelation. The
definitions are written here with numpy, scipy and Pillow (the MedMNIST-C package needs torchvision):

- pixelate: downsample by the factor with box filtering, upsample back (box); the small side is rounded
  (MedMNIST-C truncates it: at 28 px severity 3 then gives 16 px and severity 4 gives 14 px, which divides 28
  evenly, so severity 4 came out closer to the original than severity 3).
- jpeg_compression: encode as JPEG at the quality, decode.
- gaussian_noise: x + N(0, sigma) on [0, 1]; speckle_noise: x + x * N(0, sigma); shot_noise:
  Poisson(x * lam) / lam; impulse_noise: that share of pixels set to 0 or 1 (salt and pepper, even odds).
- gaussian_blur: a Gaussian of kernel size k and torchvision's default sigma 0.3 ((k - 1) / 2 - 1) + 0.8.
- brightness (factor f): x * f; contrast (f): mean + f (x - mean), mean of the grey image, as Pillow's
  ImageEnhance; gamma (g): x ** g.

Every corruption is deterministic for a seed (the generator is derived from the seed, the corruption's
name and the severity), keeps the shape and the uint8 dtype, and moves the image further from the
original as the severity rises.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from medprune.errors import ConfigError, UnknownNameError

SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Corruption:
    name: str
    apply: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]  # float [0, 1] (N, C, ...) -> same
    params: tuple[float, ...]  # severity 1..5
    description: str


def _unit(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float64) / 255.0


def _gaussian_noise(x, sigma, rng):
    return x + rng.normal(scale=sigma, size=x.shape)


def _speckle_noise(x, sigma, rng):
    return x + x * rng.normal(scale=sigma, size=x.shape)


def _shot_noise(x, lam, rng):
    return rng.poisson(x * lam) / lam


def _impulse_noise(x, amount, rng):
    hit = rng.random(x.shape) < amount
    salt = rng.random(x.shape) < 0.5
    return np.where(hit, salt.astype(np.float64), x)


def _gaussian_blur(x, kernel, rng):
    from scipy import ndimage

    sigma = 0.3 * ((kernel - 1) / 2 - 1) + 0.8
    radius = (kernel - 1) / 2
    spatial = [0, 0] + [sigma] * (x.ndim - 2)  # never across cases or channels
    return ndimage.gaussian_filter(x, spatial, truncate=radius / sigma, mode="mirror")


def _brightness(x, factor, rng):
    return x * factor


def _contrast(x, factor, rng):
    grey = x.mean(axis=1, keepdims=True) if x.shape[1] == 3 else x  # Pillow's L conversion, near enough
    mean = grey.mean(axis=tuple(range(1, x.ndim)), keepdims=True)
    return mean + factor * (x - mean)


def _gamma(x, gamma, rng):
    return x ** gamma


def _pixelate(x, factor, rng):
    from scipy import ndimage

    sides = x.shape[2:]
    small = [max(1, round(n * factor)) for n in sides]  # rounded, not truncated (see the module docstring)
    if len(sides) == 2:  # Pillow's box filter both ways, as MedMNIST-C
        from PIL import Image

        out = np.empty_like(x)
        for i, case in enumerate(x):
            for c, plane in enumerate(case):
                image = Image.fromarray(plane.astype(np.float32), mode="F")
                image = image.resize(small[::-1], Image.BOX).resize(sides[::-1], Image.BOX)
                out[i, c] = np.asarray(image)
        return out
    zoomed = ndimage.zoom(x, [1, 1, *[s / n for s, n in zip(small, sides)]], order=1, grid_mode=True, mode="nearest")
    return ndimage.zoom(zoomed, [1, 1, *[n / s for s, n in zip(zoomed.shape[2:], sides)]], order=0, grid_mode=True,
                        mode="nearest")


def _jpeg(x, quality, rng):
    from PIL import Image

    out = np.empty_like(x)
    for i, case in enumerate(x):
        pixels = np.clip(case * 255, 0, 255).astype(np.uint8)
        picture = Image.fromarray(pixels[0] if len(pixels) == 1 else pixels.transpose(1, 2, 0))
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=int(quality))
        decoded = np.asarray(Image.open(buffer), dtype=np.float64) / 255.0
        out[i] = decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1)
    return out


def _entry(name, apply, params, description):
    return name, Corruption(name, apply, tuple(params), description)


GREY = dict([
    _entry("pixelate", _pixelate, [0.8, 0.7, 0.6, 0.5, 0.4], "resolution lost (down and up by the factor)"),
    _entry("jpeg_compression", _jpeg, [50, 30, 15, 10, 7], "lossy archive (JPEG quality)"),
    _entry("gaussian_noise", _gaussian_noise, [0.04, 0.05, 0.06, 0.07, 0.08], "electronic noise (sigma)"),
    _entry("speckle_noise", _speckle_noise, [0.05, 0.07, 0.10, 0.15, 0.20], "multiplicative noise (sigma)"),
    _entry("impulse_noise", _impulse_noise, [0.005, 0.01, 0.013, 0.017, 0.02], "dead / hot pixels (share)"),
    _entry("shot_noise", _shot_noise, [300, 200, 150, 100, 80], "low dose, photon counting (photons)"),
    _entry("gaussian_blur", _gaussian_blur, [3, 5, 7, 9, 11], "defocus or motion (kernel size)"),
    _entry("brightness_up", _brightness, [1.1, 1.2, 1.3, 1.4, 1.5], "over-exposure (factor)"),
    _entry("brightness_down", _brightness, [0.9, 0.8, 0.7, 0.6, 0.5], "under-exposure (factor)"),
    _entry("contrast_up", _contrast, [1.1, 1.2, 1.3, 1.4, 1.6], "contrast (factor)"),
    _entry("contrast_down", _contrast, [0.9, 0.8, 0.7, 0.6, 0.4], "flat, washed-out image (factor)"),
    _entry("gamma_corr_up", _gamma, [1.1, 1.2, 1.3, 1.4, 1.6], "display / detector gamma (exponent)"),
    _entry("gamma_corr_down", _gamma, [0.9, 0.8, 0.7, 0.6, 0.4], "display / detector gamma (exponent)"),
])
RGB = dict([
    _entry("pixelate", _pixelate, [0.8, 0.6, 0.5, 0.4, 0.35], "resolution lost (down and up by the factor)"),
    _entry("jpeg_compression", _jpeg, [30, 25, 20, 10, 5], "lossy archive (JPEG quality)"),
    _entry("gaussian_noise", _gaussian_noise, [0.04, 0.08, 0.12, 0.16, 0.20], "electronic noise (sigma)"),
    _entry("speckle_noise", _speckle_noise, [0.10, 0.15, 0.20, 0.25, 0.30], "multiplicative noise (sigma)"),
    _entry("brightness_down", _brightness, [0.9, 0.8, 0.7, 0.6, 0.5], "under-exposure (factor)"),
    _entry("contrast_down", _contrast, [0.9, 0.8, 0.7, 0.6, 0.4], "flat, washed-out image (factor)"),
])
VOLUME = {name: GREY[name] for name in ("pixelate", "gaussian_noise", "speckle_noise", "impulse_noise", "shot_noise",
                                        "gaussian_blur", "brightness_up", "brightness_down", "contrast_up",
                                        "contrast_down", "gamma_corr_up", "gamma_corr_down")}
CORRUPTIONS: dict[str, dict[str, Corruption]] = {"grey": GREY, "rgb": RGB, "volume": VOLUME}


def kind_of(input_shape: tuple[int, ...]) -> str:
    """grey or rgb 2D images, or volumes, from a (C, H, W) or (C, D, H, W) input shape."""
    if len(input_shape) == 4:
        return "volume"
    return "rgb" if input_shape[0] == 3 else "grey"


def choose(kind: str, names: str | None) -> list[Corruption]:
    """The corruptions `all` (or None) or `name,name` names, for this kind of image."""
    available = CORRUPTIONS[kind]
    if names in (None, "all"):
        return list(available.values())
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    for name in chosen:
        if name not in available:
            import difflib

            close = difflib.get_close_matches(name, list(available), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"choose from {', '.join(available)}"
            raise UnknownNameError(f"unknown corruption '{name}' for {kind} images: {hint}")
    if not chosen:
        raise ConfigError("--robustness takes all or a comma-separated list of corruptions")
    return [available[n] for n in chosen]


def corrupt(images: np.ndarray, corruption: Corruption, severity: int, seed: int = 0) -> np.ndarray:
    """uint8 (N, C, H, W) images or (N, 1, D, H, W) volumes with `corruption` at `severity` (1..5)."""
    if severity not in SEVERITIES:
        raise ConfigError(f"severity must be 1..5, got {severity}")
    rng = np.random.default_rng([seed, zlib.crc32(corruption.name.encode()), severity])
    out = corruption.apply(_unit(np.asarray(images)), corruption.params[severity - 1], rng)
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)  # truncation, as MedMNIST-C


def corrupt_randomly(images: np.ndarray, kind: str, rng: np.random.Generator, share: float = 0.5) -> np.ndarray:
    """Training augmentation: `share` of the images each get a random corruption of their kind at a random
    severity (MedMNIST-C's augmentation draws parameters between the mildest and the strongest instead)."""
    table = list(CORRUPTIONS[kind].values())
    out = np.array(images, copy=True)
    for i in np.flatnonzero(rng.random(len(out)) < share):
        corruption, severity = table[int(rng.integers(len(table)))], int(rng.integers(1, 6))
        out[i] = corrupt(out[i:i + 1], corruption, severity, seed=int(rng.integers(2 ** 31)))[0]
    return out
