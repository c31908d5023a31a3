"""Efficiency figures: parameters, MACs, file size, CPU latency and peak inference memory."""

from __future__ import annotations

import gzip
import io
import os
import platform
import statistics
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from medprune.models.checkpoint import runtime_of
from medprune.errors import ConfigError
from medprune.hardware.device import describe_device, device_of, on, on_cpu, resolve_device, synchronize


@dataclass(frozen=True)
class Efficiency:
    params: int
    nonzero_params: int
    macs: int  # multiply-accumulates for one input
    size_bytes: int
    size_gzip_bytes: int
    latency_ms: dict[str, float]  # median per call: batch1, batch32
    peak_memory_bytes: int  # weights + largest live set of tensors during a batch-32 forward pass
    conditions: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_params(model: nn.Module) -> tuple[int, int]:
    """(all parameters, non-zero parameters)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(int(torch.count_nonzero(p)) for p in params)


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass of a single input (FLOP counter / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_shape))
    return int(counter.get_total_flops() // 2)


def serialized_sizes(model: nn.Module, path: Path | None = None) -> tuple[int, int]:
    """(bytes, gzip bytes) of the saved model file (an OpenVINO .xml with its .bin), or of its state_dict if no
    file is given."""
    if path is not None and Path(path).is_file():
        data = Path(path).read_bytes()
        if Path(path).suffix == ".xml" and Path(path).with_suffix(".bin").is_file():
            data += Path(path).with_suffix(".bin").read_bytes()
    else:
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        data = buffer.getvalue()
    return len(data), len(gzip.compress(data, compresslevel=6))


class _PeakTensorBytes(TorchDispatchMode):
    """Tracks the largest total size of live tensor storages created inside the mode."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = self.peak = 0

    def _release(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                storage = tensor.untyped_storage()
                key = storage.data_ptr()
                if key and key not in self.live:
                    self.live[key] = storage.nbytes()
                    self.current += storage.nbytes()
                    self.peak = max(self.peak, self.current)
                    weakref.finalize(storage, self._release, key)
        return out


@torch.no_grad()
def measure_peak_memory(model: nn.Module, input_shape: tuple[int, ...], batch: int = 32) -> int:
    """Weights + input + the peak of tensors alive at once during one forward pass."""
    model.eval()
    weights = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    x = torch.zeros(batch, *input_shape)
    with _PeakTensorBytes() as tracker:
        model(x)
    return int(weights + x.numel() * x.element_size() + tracker.peak)


def median_call_ms(run: Callable[[], Any], device: torch.device, *, warmup: int, repeats: int) -> float:
    """Median wall time of `run()` in milliseconds over `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)  # a GPU returns before it has finished
        times.append((time.perf_counter() - start) * 1e3)
    return float(statistics.median(times))


@torch.no_grad()
def measure_latency(model: nn.Module, input_shape: tuple[int, ...], batch: int, *, warmup: int = 3,
                    repeats: int = 10) -> float:
    """Median wall time of one forward pass in milliseconds, after warm-up, on the device the model is on."""
    model.eval()
    device = device_of(model)
    x = torch.randn(batch, *input_shape).to(device)
    return median_call_ms(lambda: model(x), device, warmup=warmup, repeats=repeats)


@torch.no_grad()
def latency_device_for(model: nn.Module, name: str) -> torch.device:
    """The device latency is timed on: `name` resolved (a one-line error when absent); an exported model's runtime
    runs on the CPU only."""
    device = resolve_device(name)
    if device.type != "cpu" and hasattr(model, "counts"):
        raise ConfigError(f"--latency-device {name}: an exported model (ONNX Runtime, OpenVINO) runs on the CPU here; "
                          "drop --latency-device, or time the PyTorch model there")
    return device


def measure_latency_interleaved(models: dict[str, nn.Module], input_shape: tuple[int, ...], batch: int, *,
                                warmup: int = 3, repeats: int = 15, rounds: int = 3) -> dict[str, float]:
    """Median ms per forward pass of several models, timed in alternating blocks of consecutive calls.

    Each model runs `repeats` timed calls split into `rounds` blocks, the blocks of all models taking turns,
    so machine noise falls on every model alike and their ratios stay meaningful. Blocks, not single calls:
    runtimes whose thread pools spin after a call (OpenMP, TBB, ONNX Runtime) slow whichever runtime is
    called next, which per-call interleaving would charge to the wrong model. Each block begins with one
    untimed call.
    """
    x = torch.randn(batch, *input_shape)
    times: dict[str, list[float]] = {k: [] for k in models}
    for m in models.values():
        m.eval()
        for _ in range(warmup):
            m(x)
    block = max(1, -(-repeats // rounds))
    for r in range(rounds):
        for key, m in models.items():
            m(x)
            for _ in range(min(block, repeats - r * block)):
                start = time.perf_counter()
                m(x)
                times[key].append((time.perf_counter() - start) * 1e3)
    return {k: float(statistics.median(v)) for k, v in times.items()}


def measurement_conditions(warmup: int, repeats: int) -> dict[str, Any]:
    """What a latency figure depends on, recorded beside it."""
    return {
        "runtime": f"pytorch {torch.__version__} eager, fp32, eval, no_grad, contiguous (NCHW)",
        "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "malloc_env": {k: os.environ[k] for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
                       if k in os.environ},
        "warmup": warmup, "repeats": repeats, "statistic": "median",
        "peak_memory": "weights + input + peak live tensors, batch 32 forward",
    }


def model_counts(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(parameters, non-zero parameters, MACs) of a PyTorch model or an ONNX Runtime one."""
    if hasattr(model, "counts"):  # OnnxModel: read from the file and its export metadata
        return model.counts()
    return (*count_params(model), count_macs(model, input_shape))


def exported_runtime(model: nn.Module) -> str:
    """The runtime and version that runs an exported model, in words."""
    if runtime_of(model) == "torchscript":
        return f"pytorch {torch.__version__} TorchScript, frozen, optimize_for_inference (oneDNN), float32 input"
    if runtime_of(model) == "openvino":
        import openvino

        return f"openvino {openvino.__version__} CPU, f32 inference precision, float32 input"
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider, float32 input"


def measure_efficiency(model: nn.Module, input_shape: tuple[int, ...], *, path: Path | None = None,
                       warmup: int = 3, repeats: int = 10, latency_device: str = "cpu") -> Efficiency:
    """Every efficiency figure of one model, measured now on this machine: latency on `latency_device` (the CPU,
    the deployment target, unless told otherwise), memory on the CPU."""
    timed_on = latency_device_for(model, latency_device)
    timed = on(model, timed_on)
    model = on_cpu(model)
    params, nonzero, macs = model_counts(model, input_shape)
    size, size_gz = serialized_sizes(model, path)
    latency = {f"batch{b}": measure_latency(timed, input_shape, b, warmup=warmup, repeats=repeats)
               for b in ((1, 8, 32) if len(input_shape) == 4 else (1, 32))}  # volumes: also batch 8
    conditions = measurement_conditions(warmup, repeats) | {"latency_device": describe_device(timed_on)}
    if hasattr(model, "counts"):  # an exported model: its runtime allocates outside PyTorch, not measured here
        conditions["runtime"] = exported_runtime(model)
        peak = -1
        conditions["peak_memory"] = "not measured for ONNX Runtime, OpenVINO or TorchScript (-1)"
    else:
        peak = measure_peak_memory(model, input_shape)
    return Efficiency(params=params, nonzero_params=nonzero, macs=macs, size_bytes=size, size_gzip_bytes=size_gz,
                      latency_ms=latency, peak_memory_bytes=peak, conditions=conditions)
