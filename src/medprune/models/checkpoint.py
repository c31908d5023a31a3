"""Portable checkpoints: a state_dict plus a JSON spec that rebuilds the model without pickled code.

The spec holds the architecture name and arguments, the input shape, class names, preprocessing
and the width of every layer, so a model whose channels were removed by pruning is rebuilt at
its pruned widths before the weights are loaded (with `weights_only=True`).
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medprune._atomic import write_atomic
from medprune.errors import CheckpointError, MedpruneError
from medprune.models._sparse import pack, should_pack, unpack
from medprune.models.conv import CONV_LAYERS, TRANSPOSED_CONV_LAYERS
from medprune.models.factorized import apply_factorized_structure
from medprune.models.imported import check_buildable, is_imported
from medprune.models.onnx_model import OnnxModel, read_onnx_spec
from medprune.models.openvino_model import OpenVinoModel, read_openvino_spec
from medprune.models.registry import create_model
from medprune.models.spec import ArchitectureSpec, CheckpointSpec
from medprune.models.torchscript_model import TorchScriptModel, is_torchscript


@dataclass
class Checkpoint:
    """A model with the spec that describes it."""

    model: nn.Module
    spec: CheckpointSpec
    path: Path | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.spec, CheckpointSpec):  # a mapping from the user's own code
            self.spec = CheckpointSpec.read(self.spec, self.path or "the given spec")

    @property
    def name(self) -> str:
        return self.spec.model.name

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.spec.model.input_shape)

    @property
    def class_names(self) -> list[str]:
        return list(self.spec.class_names)

    @property
    def positive_class(self) -> str | None:
        """The disease class of a binary model (held at index 1); None for multi-class."""
        return self.spec.positive_class

    @property
    def threshold(self) -> float | None:
        return self.spec.threshold


def make_spec(name: str, *, input_shape: tuple[int, ...], class_names: list[str], modality: str,
              task: str, kwargs: dict | None = None, preprocessing: dict | None = None,
              data: dict | None = None, data_md5: str = "") -> CheckpointSpec:
    """The JSON part of a checkpoint, before layer widths are filled in at save time."""
    return CheckpointSpec(
        model=ArchitectureSpec(name=name, kwargs=dict(kwargs or {}), input_shape=list(input_shape),
                               n_classes=len(class_names), modality=modality),
        task=task, class_names=list(class_names), preprocessing=dict(preprocessing or {}), data=dict(data or {}),
        data_md5=data_md5)


def layer_widths(model: nn.Module) -> dict[str, dict[str, int]]:
    """The width of every layer whose weight shape pruning can change."""
    widths: dict[str, dict[str, int]] = {}
    for name, module in model.named_modules():
        if isinstance(module, (*CONV_LAYERS, *TRANSPOSED_CONV_LAYERS)):
            widths[name] = {"in": module.in_channels, "out": module.out_channels, "groups": module.groups}
        elif isinstance(module, nn.Linear):
            widths[name] = {"in": module.in_features, "out": module.out_features}
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            widths[name] = {"features": module.num_features}
    return widths


def _resized(module: nn.Module, width: dict[str, int]) -> nn.Module:
    if isinstance(module, TRANSPOSED_CONV_LAYERS):
        return type(module)(width["in"], width["out"], module.kernel_size, stride=module.stride, padding=module.padding,
                            output_padding=module.output_padding, groups=width["groups"], bias=module.bias is not None,
                            dilation=module.dilation, padding_mode=module.padding_mode)
    if isinstance(module, CONV_LAYERS):
        return type(module)(width["in"], width["out"], module.kernel_size, module.stride, module.padding,
                            module.dilation, width["groups"], module.bias is not None, module.padding_mode)
    if isinstance(module, nn.Linear):
        return nn.Linear(width["in"], width["out"], bias=module.bias is not None)
    return type(module)(width["features"], eps=module.eps, momentum=module.momentum,
                        affine=module.affine, track_running_stats=module.track_running_stats)


def apply_layer_widths(model: nn.Module, widths: dict[str, dict[str, int]]) -> nn.Module:
    """Replace every layer whose recorded width differs from the freshly built one."""
    current = layer_widths(model)
    for name, width in widths.items():
        if name not in current:
            raise CheckpointError(f"the checkpoint has a layer '{name}' that this architecture lacks: "
                                  "it was saved from a different model; rebuild it with its own name")
        if current[name] != width:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, _resized(model.get_submodule(name), width))
    return model


def save_checkpoint(path: Path, model: nn.Module, spec: CheckpointSpec | dict[str, Any]) -> Path:
    """Write `model.pt` atomically: {'spec': JSON text, 'state_dict': tensors, 'sparse': packed tensors}."""
    if not isinstance(spec, CheckpointSpec):
        spec = CheckpointSpec.read(spec, path)
    spec = spec.updated(layers=layer_widths(model))
    state, packed = {}, {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        if should_pack(value):  # pruned weights: the file shrinks with the sparsity
            packed[key] = pack(value)
        else:
            state[key] = value.clone()
    payload = {"spec": spec.to_json(), "state_dict": state, "sparse": packed}
    write_atomic(Path(path), lambda tmp: torch.save(payload, tmp))
    return Path(path)


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist: pass a run directory holding model.pt, or the "
                              "model.pt file itself")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint ({first[:120]}): it may be truncated "
                              "or not a medprune model.pt; copy or save it again") from None
    if not isinstance(payload, dict) or "spec" not in payload or "state_dict" not in payload:
        raise CheckpointError(f"{path} is a PyTorch file but not a medprune checkpoint: save models "
                              "with medprune train or medprune.models.save_checkpoint")
    return payload


def runtime_of(model: nn.Module) -> str:
    """Which runtime runs a model: pytorch, onnxruntime (an exported .onnx), openvino (an exported .xml) or
    torchscript (a TorchScript export, run by PyTorch's JIT)."""
    if isinstance(model, OnnxModel):
        return "onnxruntime"
    if isinstance(model, TorchScriptModel):
        return "torchscript"
    return "openvino" if isinstance(model, OpenVinoModel) else "pytorch"


def load_checkpoint(path: Path) -> Checkpoint:
    """Rebuild a model from a run directory, a `model.pt` (safely: no pickled code runs), an exported
    `.onnx` file (run by ONNX Runtime), an OpenVINO `.xml` (run by the OpenVINO runtime) or a TorchScript
    export (run by PyTorch's JIT).

    Raises:
        CheckpointError: unreadable file, unknown format, or weights that do not fit the architecture.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if path.suffix == ".onnx":
        if not path.is_file():
            raise CheckpointError(f"{path} does not exist: pass the .onnx file written by medprune export")
        return Checkpoint(model=OnnxModel(path), spec=read_onnx_spec(path), path=path)
    if path.suffix == ".xml":
        if not path.is_file() or not path.with_suffix(".bin").is_file():
            raise CheckpointError(f"{path} or its .bin does not exist: pass the .xml written by medprune export "
                                  "--format openvino, with its .bin beside it")
        return Checkpoint(model=OpenVinoModel(path), spec=read_openvino_spec(path), path=path)
    if path.is_file() and is_torchscript(path):
        model = TorchScriptModel(path)
        return Checkpoint(model=model, spec=model.spec, path=path)
    payload = _read(path)
    spec = CheckpointSpec.read(payload["spec"], path)
    arch = spec.model
    if not isinstance(payload["state_dict"], dict) or not all(isinstance(v, torch.Tensor)
                                                              for v in payload["state_dict"].values()):
        raise CheckpointError(f"{path}: its state_dict is not a mapping of tensors: save the model again")
    state = dict(payload["state_dict"])
    try:
        state.update({key: unpack(packed) for key, packed in payload.get("sparse", {}).items()})
    except (KeyError, ValueError, RuntimeError):
        raise CheckpointError(f"{path} has damaged sparse weights: save the model again") from None
    if is_imported(arch.name):
        try:
            check_buildable(arch.name)  # before anything named by the file is imported or called
        except MedpruneError as err:
            raise CheckpointError(f"{path}: {err}") from None
    try:
        model = create_model(arch.name, input_shape=tuple(arch.input_shape), n_classes=arch.n_classes,
                             modality=arch.modality, **arch.kwargs)
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: architecture '{arch.name}' cannot be built from its recorded settings "
                              f"({str(err).splitlines()[0][:120]}): the spec is damaged; save the model again") from None
    try:
        apply_factorized_structure(model, spec.factorized)  # low-rank layers, if any
        apply_layer_widths(model, spec.layers)
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise CheckpointError(f"{path}: the weights do not fit architecture '{arch.name}' ({detail[:160]}): "
                              "the checkpoint was saved from a different model") from None
    bad = [key for key, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if bad:
        raise CheckpointError(f"{path}: the weights '{bad[0]}' hold NaN or infinite values: the training diverged or "
                              "the file is damaged; use an earlier checkpoint")
    model.eval()
    return Checkpoint(model=model, spec=spec, path=path)
