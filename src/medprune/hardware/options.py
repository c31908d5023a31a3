"""The device and precision options, declared once for every verb that trains (`train`, `prune`, and the Python
keyword arguments of the same names)."""

from __future__ import annotations

from pydantic import Field, field_validator

from medprune.hardware.device import check_device_name
from medprune.hardware.precision import check_precision
from medprune.schema import Settings


class AcceleratorOptions(Settings):
    """Where training runs and in which precision; metrics, verdicts and latency are measured on the CPU."""

    device: str = Field(default="auto", description=(
        "Train on this device: auto (CUDA, then MPS, then the CPU), cpu, cuda, cuda:N or mps. Metrics, verdicts "
        "and latency are measured on the CPU, the deployment target."))
    precision: str = Field(default="32", description=(
        "Training precision: 32, bf16-mixed (also on CPUs) or 16-mixed (fp16 with a gradient scaler, for GPUs). "
        "Weights, metrics and exports stay fp32."))

    _device = field_validator("device")(check_device_name)
    _precision = field_validator("precision")(check_precision)

    def accelerator(self) -> dict[str, str]:
        """The two settings, to pass on to a TrainConfig."""
        return {"device": self.device, "precision": self.precision}


class InferenceOptions(Settings):
    """Where a verb that only runs a model (evaluate, validate, predict) runs it."""

    device: str = Field(default="cpu", description=(
        "Run the model on this device: cpu, auto (CUDA, then MPS, then the CPU), cuda, cuda:N or mps; predictions "
        "come back to the CPU, and latency is always measured there, the deployment target."))

    _device = field_validator("device")(check_device_name)


class LatencyOptions(Settings):
    """Where latency is timed: the deployment target, the CPU unless the model will be served elsewhere."""

    latency_device: str = Field(default="cpu", description=(
        "Time latency on this device: cpu (the default, where hospital models are mostly served), cuda, cuda:N, "
        "mps or auto. Memory is always measured on the CPU; exported models run on the CPU only."))

    _latency_device = field_validator("latency_device")(check_device_name)
