"""How stored 8-bit images become a network's inputs: medprune's own models take [-1, 1]; a network trained
elsewhere declares its own scaling (an input range, or a mean and standard deviation per channel after scaling to
[0, 1], as torchvision's ImageNet models do), and that declaration is recorded in its checkpoint."""

from __future__ import annotations

from typing import Any

from medprune.errors import ConfigError

MEDPRUNE_SCALING = {"scale": 1 / 255, "mean": 0.5, "std": 0.5}  # [-1, 1], MedMNIST's convention


def declared_scaling(*, input_range: str | None = None, mean: str | None = None,
                     std: str | None = None) -> dict[str, Any] | None:
    """The preprocessing of `--input-range LOW,HIGH` or `--mean M[,M,M] --std S[,S,S]` (None when neither is
    given): x / 255, then (x - mean) / std."""
    if input_range is not None and (mean is not None or std is not None):
        raise ConfigError("give --input-range or --mean/--std, not both")
    if input_range is not None:
        bounds = _numbers(input_range, "--input-range", "0,1")
        if len(bounds) != 2 or bounds[1] <= bounds[0]:
            raise ConfigError(f"--input-range must be LOW,HIGH with LOW < HIGH (e.g. 0,1 or -1,1), got '{input_range}'")
        low, high = bounds
        # x / 255 * (high - low) + low, written as ((x / 255) - mean) / std
        return {"scale": 1 / 255, "mean": -low / (high - low), "std": 1 / (high - low), "declared": input_range}
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise ConfigError("--mean and --std go together: give both (e.g. --mean 0.485,0.456,0.406 --std "
                          "0.229,0.224,0.225)")
    means, stds = _numbers(mean, "--mean", "0.5"), _numbers(std, "--std", "0.25")
    if len(means) != len(stds) or any(s <= 0 for s in stds):
        raise ConfigError("--mean and --std need as many values (one, or one per channel) and a positive --std")
    one = lambda v: v[0] if len(v) == 1 else v  # noqa: E731
    return {"scale": 1 / 255, "mean": one(means), "std": one(stds), "declared": f"mean {mean}, std {std}"}


def check_channels(scaling: dict[str, Any], channels: int) -> None:
    """Per-channel values must be one per channel of the data."""
    for key in ("mean", "std"):
        value = scaling[key]
        if isinstance(value, list) and len(value) != channels:
            raise ConfigError(f"--{key} gives {len(value)} values but the images have {channels} channel(s): give "
                              f"one value or {channels}")


def _numbers(text: str, flag: str, example: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"{flag} takes numbers separated by commas (e.g. {example}), got '{text}'") from None
