"""An exported OpenVINO IR (`.xml` + `.bin`) used as a model: the OpenVINO runtime behind the nn.Module call
interface, so `evaluate`, `validate`, `predict` and `compare` score the shipped artefact itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from medprune.errors import CheckpointError
from medprune.models.spec import CheckpointSpec

RT_SPEC = ["medprune", "spec"]  # where the medprune spec lives in the IR's runtime info
RT_MACS = ["medprune", "macs"]


def _core():
    import openvino as ov

    return ov.Core()


class OpenVinoModel(nn.Module):
    """Runs an OpenVINO IR on the CPU; returns logits as a torch tensor.

    Inference precision is pinned to f32: on CPUs with bf16 units OpenVINO's default would run an fp32 model
    in bf16, which changes its outputs; quantised layers of an int8 IR still run in int8.
    """

    def __init__(self, path: Path, threads: int | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self.compiled = _core().compile_model(str(self.path), "CPU", config)
        except Exception as err:
            raise CheckpointError(f"{path} is not a loadable OpenVINO model ({str(err)[:120]}): export it again "
                                  "with medprune export --format openvino") from None
        self.request = self.compiled.create_infer_request()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.request.infer([x.detach().cpu().numpy().astype(np.float32)])
        return torch.from_numpy(np.array(next(iter(out.values())), copy=True))

    def counts(self) -> tuple[int, int, int]:
        """(parameters, non-zero parameters, MACs recorded at export) from the IR's weight constants."""
        model = _core().read_model(str(self.path))
        weights = [node.get_data() for node in model.get_ops() if node.get_type_name() == "Constant"
                   and node.get_output_element_type(0).is_real() or _is_int_weight(node)]
        weights = [w for w in weights if w.size > 1]
        macs = int(model.get_rt_info(RT_MACS).astype(str)) if model.has_rt_info(RT_MACS) else 0
        return int(sum(w.size for w in weights)), int(sum(np.count_nonzero(w) for w in weights)), macs


def _is_int_weight(node) -> bool:
    """An int8 / uint8 weight constant of a quantised IR (not an int64 shape constant)."""
    return node.get_type_name() == "Constant" and node.get_output_element_type(0).get_type_name() in ("i8", "u8")


def read_openvino_spec(path: Path) -> CheckpointSpec:
    try:
        model = _core().read_model(str(path))
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable OpenVINO IR ({str(err)[:100]}): keep the .bin beside the "
                              "the .xml, or export it again") from None
    if not model.has_rt_info(RT_SPEC):
        raise CheckpointError(f"{path} has no medprune metadata: export models with medprune export --format openvino "
                              "so the class names, preprocessing and threshold travel with them")
    return CheckpointSpec.read(model.get_rt_info(RT_SPEC).astype(str), path)
