"""The device a run trains on: `auto` takes CUDA, then Apple's MPS, then the CPU; a device asked for by name must
be there. Results always come back to the CPU, where metrics and latency are measured (the deployment target)."""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from medprune.errors import ConfigError


DEVICES = "auto, cpu, cuda, cuda:N or mps"


def resolve_device(name: str) -> torch.device:
    """The torch.device that `name` stands for on this machine, or a one-line ConfigError when it is absent.

    Under torchrun, `auto` and `cuda` mean this process's own GPU (LOCAL_RANK)."""
    name = name.strip().lower()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise ConfigError("--device mps: this machine has no Apple MPS device: use --device cpu (or auto)")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: this machine has no CUDA device (torch {torch.__version__} sees "
                              "none): use --device cpu (or auto)")
        index = local_rank if name == "cuda" else _index(name)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                              f"numbered from 0: use --device cuda:0")
        return torch.device("cuda", index)
    raise ConfigError(f"--device '{name}' is not a device: use {DEVICES}")


def check_device_name(name: str) -> str:
    """A field validator's check: the spelling of a device, whether or not this machine has it."""
    spelled = name.strip().lower()
    if spelled in ("auto", "cpu", "cuda", "mps") or (spelled.startswith("cuda:") and spelled[5:].isdigit()):
        return spelled
    raise ValueError(f"device must be {DEVICES}, got '{name}'")


def describe_device(device: torch.device) -> str:
    """The device in words for a run record: `cuda:0 (NVIDIA H100 80GB HBM3)`, `cpu`."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def device_of(model: nn.Module) -> torch.device:
    """Where a model's weights are (the CPU for a model without any)."""
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@contextlib.contextmanager
def running_on(models: Iterable[nn.Module], device: torch.device) -> Iterator[None]:
    """Inside the block the models run on `device` (their predictions come back to the CPU); after it they are on
    the CPU again. Exported models (ONNX Runtime, OpenVINO, TorchScript wrappers) hold no weights and stay put."""
    models = list(models)
    try:
        for model in models:
            model.to(device)
        yield
    finally:
        for model in models:
            model.cpu()


def on_cpu(model: nn.Module) -> nn.Module:
    """`model` itself when it is on the CPU, else a CPU copy: latency and memory are the deployment target's."""
    return model if device_of(model).type == "cpu" else copy.deepcopy(model).cpu()


def on(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` itself when it is on `device`, else a copy there (the model being served elsewhere stays put)."""
    return model if device_of(model) == device else copy.deepcopy(model).to(device)


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on `device`: a GPU returns from a call before it has finished it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch moved to `device`; from pinned memory, without waiting for the copy (the GPU orders it)."""
    if device.type == "cpu":
        return x
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def _index(name: str) -> int:
    try:
        return int(name.split(":", 1)[1])
    except ValueError:
        raise ConfigError(f"--device '{name}' is not a device: use {DEVICES}") from None


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
