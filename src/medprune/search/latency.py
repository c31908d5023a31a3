"""Per-layer latency tables (NetAdapt, Yang et al. 2018): each conv / linear layer timed alone at the
widths a candidate gives it, once, on this machine and in the runtime the model will be served by (PyTorch,
ONNX Runtime or OpenVINO); a candidate's latency is the sum over its layers.

Layers with the same geometry and widths share one measurement; the table is kept in a JSON file so
later searches on this machine reuse it.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from medprune.models.conv import CONV_LAYERS, TRANSPOSED_CONV_LAYERS
from medprune.models.onnx_model import OnnxModel
from medprune.models.openvino_model import OpenVinoModel
from medprune._atomic import write_json_atomic
from medprune.evaluation.efficiency import measure_latency
from medprune.pruning.cost_model import Layer
from medprune.search.space import SearchSpace

BATCH = 32
RUNTIMES = ("torch", "onnxruntime", "openvino")


def in_runtime(module: nn.Module, input_shape: tuple[int, ...], runtime: str) -> nn.Module:
    """`module` as `runtime` runs it (exported to a temporary file, fp32), behind the nn.Module interface."""
    if runtime == "torch":
        return module.eval()
    example = torch.randn(BATCH, *input_shape)
    with tempfile.TemporaryDirectory(prefix="medprune-latency-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter chatter
        if runtime == "onnxruntime":
            path = Path(tmp) / "model.onnx"
            torch.onnx.export(module.eval(), (example,), str(path), input_names=["input"], opset_version=17,
                              dynamic_axes={"input": {0: "batch"}}, dynamo=False)
            return OnnxModel(path)  # the session holds the graph: the file may go
        import openvino as ov  # heavy: only when OpenVINO is the target

        path = Path(tmp) / "model.xml"
        ov.save_model(ov.convert_model(module.eval(), example_input=example), str(path), compress_to_fp16=False)
        return OpenVinoModel(path)


def _key(layer: Layer, w_in: int, w_out: int, runtime: str) -> str:
    m = layer.module
    if isinstance(m, TRANSPOSED_CONV_LAYERS):
        geometry = f"deconv{m.kernel_size}s{m.stride}p{m.padding}o{m.output_padding}d{m.dilation}"
    elif isinstance(m, CONV_LAYERS):
        geometry = f"conv{m.kernel_size}s{m.stride}p{m.padding}d{m.dilation}{'dw' if layer.depthwise else ''}"
    else:
        geometry = "linear"
    key = f"{geometry}@{layer.input_hw}:{w_in}->{w_out}"
    return key if runtime == "torch" else f"{runtime}:{key}"


def _time(layer: Layer, w_in: int, w_out: int, runtime: str) -> float:
    m = layer.module
    if isinstance(m, TRANSPOSED_CONV_LAYERS):
        module = type(m)(w_in, w_out, m.kernel_size, m.stride, m.padding, m.output_padding,
                         bias=m.bias is not None, dilation=m.dilation)
        shape = (w_in, *layer.input_hw)
    elif isinstance(m, CONV_LAYERS):
        module = type(m)(w_in, w_out, m.kernel_size, m.stride, m.padding, m.dilation,
                           groups=w_in if layer.depthwise else 1, bias=m.bias is not None)
        shape = (w_in, *layer.input_hw)
    else:
        module = nn.Linear(w_in, w_out, bias=m.bias is not None)
        shape = (*layer.input_hw, w_in)
    return measure_latency(in_runtime(module, shape, runtime), shape, BATCH, warmup=2, repeats=7)


class LatencyTable:
    """Latency ratio of a candidate against the dense model, from per-layer measurements in `runtime`."""

    def __init__(self, space: SearchSpace, path: Path | None = None, runtime: str = "torch") -> None:
        self.space, self.path, self.runtime = space, path, runtime
        self.table: dict[str, float] = {}
        if path is not None and Path(path).is_file():
            self.table = json.loads(Path(path).read_text())
        self.dense_ms = self._sum([0] * len(space.plans))

    def _ms(self, layer: Layer, w_in: int, w_out: int) -> float:
        key = _key(layer, w_in, w_out, self.runtime)
        if key not in self.table:
            self.table[key] = _time(layer, w_in, w_out, self.runtime)
        return self.table[key]

    def _sum(self, removed: list[int]) -> float:
        return sum(self._ms(layer, w_in, w_out) for layer, w_in, w_out in self.space.layer_widths(removed))

    def latency_ms(self, keep: list[float]) -> float:
        return self._sum(self.space.removed(keep))

    def ratio(self, keep: list[float]) -> float:
        return self.latency_ms(keep) / self.dense_ms

    def save(self) -> None:
        if self.path is not None:
            write_json_atomic(Path(self.path), self.table)
