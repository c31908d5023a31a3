"""Mixed precision for training (torch.autocast): bf16 on any device, fp16 with a gradient scaler on GPUs.

Only training runs in reduced precision: the weights stay fp32, and every metric, verdict and export is computed
in fp32, the precision the model is served in on a CPU (or in the int8 of its export)."""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("32", "bf16-mixed", "16-mixed")


def check_precision(value: str) -> str:
    """A field validator's check."""
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got '{value}'")
    return value


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The forward pass and loss of a training step in `precision` (a no-op for 32)."""
    if precision == "32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Scales fp16 losses so small gradients do not underflow; bf16 has fp32's range and needs none (disabled
    scalers pass the loss through)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "16-mixed")
