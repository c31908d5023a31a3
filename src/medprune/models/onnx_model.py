"""An exported ONNX file used as a model: ONNX Runtime behind the nn.Module call interface, so
`evaluate` and `validate` score the shipped artefact itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from medprune.errors import CheckpointError
from medprune.models.spec import CheckpointSpec

SPEC_KEY = "medprune_spec"
MACS_KEY = "medprune_macs"


class OnnxModel(nn.Module):
    """Runs an ONNX file with ONNX Runtime on the CPU; returns logits as a torch tensor."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        # Spinning worker threads would keep the cores busy between calls and slow any PyTorch model
        # measured in the same process; latency comparisons must not depend on what ran before.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise CheckpointError(f"{path} is not a loadable ONNX model ({str(err)[:120]}): export it again "
                                  "with medprune export") from None
        self.input_name = self.session.get_inputs()[0].name
        self.path = Path(path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input_name: x.detach().cpu().numpy().astype(np.float32)})[0]
        return torch.from_numpy(out)

    def counts(self) -> tuple[int, int, int]:
        """(parameters, non-zero parameters, MACs recorded at export) from the file itself."""
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(self.path))
        # Weights and biases, in float or quantised integers (int32 biases); not the quantisers' scales
        # and zero points, nor int64 shape constants.
        floats = [w for t in model.graph.initializer
                  if not t.name.endswith(("_scale", "_zero_point")) and (w := numpy_helper.to_array(t)).size > 1
                  and (w.dtype.kind == "f" or w.dtype in (np.int8, np.uint8, np.int32))]
        meta = {p.key: p.value for p in model.metadata_props}
        return (int(sum(w.size for w in floats)), int(sum(np.count_nonzero(w) for w in floats)),
                int(meta.get(MACS_KEY, 0)))


def read_onnx_spec(path: Path) -> CheckpointSpec:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable ONNX file ({str(err)[:100]}): export it again") from None
    meta = {p.key: p.value for p in model.metadata_props}
    if SPEC_KEY not in meta:
        raise CheckpointError(f"{path} has no medprune metadata: export models with medprune export so the "
                              "class names, preprocessing and threshold travel with them")
    return CheckpointSpec.read(meta[SPEC_KEY], path)
