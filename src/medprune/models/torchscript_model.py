"""A TorchScript file written by `medprune export --format torchscript` used as a model, run the way a PyTorch
server would run it: `torch.jit.load`, then `torch.jit.optimize_for_inference` (oneDNN convolutions in their
own layout), so `evaluate`, `validate`, `predict` and `compare` score and time the shipped artefact itself.

The PyTorch we pin (2.13) deprecates TorchScript in favour of torch.export, but it is still what PyTorch
serving stacks (TorchServe, MONAI Deploy, libtorch) load; its deprecation warnings are silenced here.

The file carries the medprune spec and the model's counts as extra files of the archive (TorchScript keeps no
parameters once frozen: they became constants of the graph).
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from medprune.errors import CheckpointError
from medprune.models.spec import CheckpointSpec

SPEC_FILE = "medprune_spec.json"
COUNTS_FILE = "medprune_counts.json"  # [parameters, non-zero parameters, MACs] of the exported model


def is_torchscript(path: Path) -> bool:
    """Whether `path` is a TorchScript archive (its zip holds compiled code), not a `torch.save` file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def save_torchscript(module: torch.jit.ScriptModule, spec: CheckpointSpec, counts: tuple[int, int, int], out: Path) -> None:
    """Write the archive to `out`; it is built in memory first, because torch's writer aborts the whole process
    (a C++ error in a destructor) when the disk fills while it writes a file itself."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(module, buffer, _extra_files={SPEC_FILE: spec.exported_json(), COUNTS_FILE: json.dumps(list(counts))})
    Path(out).write_bytes(buffer.getvalue())


class TorchScriptModel(nn.Module):
    """Runs a medprune TorchScript export on the CPU, optimized for inference when it is loaded."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        extra = {SPEC_FILE: "", COUNTS_FILE: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                scripted = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except Exception as err:
            raise CheckpointError(f"{path} is not a loadable TorchScript model ({str(err)[:120]}): export it "
                                  "again with medprune export --format torchscript") from None
        if not extra[SPEC_FILE]:
            raise CheckpointError(f"{path} has no medprune metadata: export models with medprune export --format "
                                  "torchscript so the class names, preprocessing and threshold travel with them")
        self.spec = CheckpointSpec.read(extra[SPEC_FILE], path)
        self._counts = tuple(json.loads(extra[COUNTS_FILE] or "[0, 0, 0]"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.scripted = torch.jit.optimize_for_inference(scripted.eval())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scripted(x)

    def counts(self) -> tuple[int, int, int]:
        """(parameters, non-zero parameters, MACs) recorded at export."""
        return self._counts
