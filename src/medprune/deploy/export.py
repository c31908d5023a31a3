"""Export a model to ONNX (fp32, or int8 static QDQ), OpenVINO IR (fp32, or int8 by NNCF) or TorchScript,
verified on real test inputs."""

from __future__ import annotations

import re
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator

from medprune._atomic import write_atomic, write_failure
from medprune.data.batches import to_tensor
from medprune.data.dataset import Dataset
from medprune.errors import ConfigError, MedpruneError
from medprune.evaluation.efficiency import count_macs, model_counts
from medprune.evaluation.evaluate import check_model_matches_data
from medprune.evaluation.metrics import compute_auroc
from medprune.models.checkpoint import Checkpoint
from medprune.deploy.inference import for_cpu_inference
from medprune.models.onnx_model import MACS_KEY, SPEC_KEY, OnnxModel
from medprune.models.openvino_model import OpenVinoModel
from medprune.training.segmentation import Inference, label_dice, mean_dice, predict_masks
from medprune.models.spec import CheckpointSpec
from medprune.models.torchscript_model import TorchScriptModel, save_torchscript
from medprune.schema import Settings, checked

FP32_TOLERANCE = 1e-4
OPSET = 17


class ExportError(MedpruneError):
    """A model that cannot be exported, or whose export does not reproduce it."""


@dataclass(frozen=True)
class ExportResult:
    path: str
    format: str
    size_bytes: int
    max_abs_diff: float | None = None  # fp32 / TorchScript against PyTorch, on real test inputs
    agreement: float | None = None  # int8: share of test cases with the fp32 model's predicted class
    auroc_fp32: float | None = None
    auroc_int8: float | None = None
    auroc_delta: float | None = None
    n_checked: int = 0
    # segmentation int8: mean Dice against the ground truth of PyTorch fp32 and int8, and between their label maps
    dice_fp32: float | None = None
    dice_int8: float | None = None
    dice_agreement: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _unsupported_op(err: Exception) -> str:
    match = re.search(r"operator '?([\w:.]+)'?", str(err))
    return match[1] if match else type(err).__name__


def _export_fp32(model: torch.nn.Module, spec: CheckpointSpec, name: str, path: Path, example: torch.Tensor) -> None:
    import onnx

    model = model.eval()

    def write(tmp: Path) -> None:
        try:
            with warnings.catch_warnings():  # tracer chatter about constants; the result is verified below
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (example,), str(tmp), input_names=["input"], output_names=["logits"],
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=OPSET,
                                  dynamo=False)
        except Exception as err:
            if isinstance(err, OSError) or (isinstance(err, RuntimeError) and write_failure(err, path)):
                raise  # a full disk or an unwritable path (write_atomic names it), not an operator ONNX lacks
            raise ExportError(f"ONNX cannot export operator '{_unsupported_op(err)}' of {name}: "
                              "replace that layer with a standard one, or export to TorchScript") from None
        proto = onnx.load(str(tmp))
        for key, value in ((SPEC_KEY, spec.exported_json()), (MACS_KEY, str(count_macs(model, example.shape[1:])))):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))

    write_atomic(path, write)


def _test_inputs(dataset: Dataset, n: int, patch: tuple[int, ...] | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """Test inputs (segmentation: cropped to the sliding window's patch, the shape the exported graph takes)."""
    test = dataset.split("test")
    if dataset.task == "segmentation":
        crop = (slice(None), slice(None), *[slice(0, p) for p in patch])
        return torch.from_numpy(np.ascontiguousarray(test.x[:n][crop])), test.y[:n]
    return to_tensor(test.x[:n], dataset.preprocessing), test.y[:n]


def _training_batches(dataset: Dataset, n_batches: int, batch_size: int = 32, seed: int = 0,
                      patch: tuple[int, ...] | None = None) -> list[np.ndarray]:
    """Seeded training batches for the int8 calibrator (segmentation: 4 cases a batch, cropped to the patch)."""
    train = dataset.split("train")
    if dataset.task == "segmentation":
        batch_size = 4
        crop = (slice(None), slice(None), *[slice(0, p) for p in patch])
    order = np.random.default_rng(seed).permutation(len(train))[: n_batches * batch_size]
    if dataset.task == "segmentation":
        return [np.ascontiguousarray(train.x[np.sort(idx)][crop])
                for idx in np.array_split(order, max(1, len(order) // batch_size))]
    return [to_tensor(train.x[idx], dataset.preprocessing).numpy()
            for idx in np.array_split(order, max(1, len(order) // batch_size))]


def _segmentation_figures(checkpoint: Checkpoint, exported: torch.nn.Module, dataset: Dataset,
                          inference: Inference) -> dict[str, Any]:
    """int8 against PyTorch fp32 on every test case, run with the model's own sliding windows."""
    test = dataset.split("test")
    ours, theirs = (predict_masks(m, test, inference) for m in (checkpoint.model, exported))
    between = [label_dice(a, b, dataset.n_classes) for a, b in zip(ours, theirs)]
    return {"dice_fp32": mean_dice(ours, test, dataset.n_classes), "dice_int8": mean_dice(theirs, test, dataset.n_classes),
            "dice_agreement": float(np.mean(between)), "n_checked": len(test)}


class _Calibration:
    """Feeds input batches to the int8 calibrator (a CalibrationDataReader)."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self.batches = iter([{"input": b} for b in batches])

    def get_next(self):
        return next(self.batches, None)


def _quantize(fp32: Path, out: Path, batches: list[np.ndarray], dynamic: bool = False) -> None:
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reader = type("Reader", (_Calibration, CalibrationDataReader), {})(batches)
    with tempfile.TemporaryDirectory() as tmpdir:
        prepared = Path(tmpdir) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared))
        if dynamic:  # activations quantised on the fly per batch: no calibration, unsigned weights for ConvInteger
            write_atomic(out, lambda tmp: quantize_dynamic(str(prepared), str(tmp), per_channel=False,
                                                           weight_type=QuantType.QUInt8))
        else:
            # Measured on this CPU: static QDQ, per-channel int8 weights and *unsigned* int8 activations
            # is the fast combination; signed activations and dynamic quantisation are slower than fp32.
            write_atomic(out, lambda tmp: quantize_static(
                str(prepared), str(tmp), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8))
    import onnx

    proto, source = onnx.load(str(out)), onnx.load(str(fp32))
    del proto.metadata_props[:]
    proto.metadata_props.extend(source.metadata_props)
    onnx.save(proto, str(out))


FORMATS = {"onnx": ".onnx", "openvino": ".xml", "torchscript": ".pt"}


def _check_format(name: str) -> str:
    if name not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got '{name}'")
    return name


class ExportSettings(Settings):
    """How a model is exported, declared once for `medprune export`, Python and a recipe's quantize step."""

    format: str = Field(default="onnx", description="onnx (ONNX Runtime), openvino (OpenVINO IR) or torchscript.")
    int8: bool = Field(default=False, description=(
        "Post-training int8, calibrated on training images: static QDQ (per-channel, unsigned activations) for "
        "onnx, NNCF for openvino."))
    max_drop: float | None = Field(default=None, gt=0, lt=1, description=(
        "openvino --int8: NNCF accuracy-controlled quantization; layers whose quantization costs more than this "
        "validation AUROC stay in higher precision (e.g. 0.005)."))
    dynamic: bool = Field(default=False, description=(
        "With --int8: quantise activations at run time (no calibration; slower than static here)."))
    calibration_batches: int = Field(default=8, ge=1, description="Training batches for int8 calibration.")

    _format = field_validator("format")(lambda value: checked(_check_format, value))

    @model_validator(mode="after")
    def _combination(self) -> ExportSettings:
        if self.dynamic and not self.int8:
            raise ValueError("--dynamic is a kind of int8 quantisation: add --int8")
        if self.int8 and self.format == "torchscript":
            raise ValueError("--int8 needs --format onnx or openvino (int8 runs in ONNX Runtime or OpenVINO)")
        if self.dynamic and self.format != "onnx":
            raise ValueError("--dynamic is ONNX Runtime's dynamic quantization: use it with --format onnx")
        return self


def export(checkpoint: Checkpoint, dataset: Dataset, out: Path, settings: ExportSettings | None = None, *,
           n_check: int = 256, **options: Any) -> ExportResult:
    """Export and verify: fp32 must match PyTorch within 1e-4; int8 reports agreement and AUROC delta.

    Settings are an `ExportSettings` or its fields as keywords (`format="openvino", int8=True`). `dynamic`
    quantises activations at run time (no calibration) instead of static QDQ (ONNX only). `max_drop` (OpenVINO
    int8 only): NNCF's accuracy-controlled quantization keeps in higher precision the layers whose quantization
    would cost more than this much validation AUROC.

    Raises:
        ExportError: an operator the format cannot express, or an export that does not reproduce the model.
        ConfigError: an unknown format, a file name that does not fit it, or int8 requested for TorchScript.
    """
    settings = (settings or ExportSettings()).replace(**options) if options else settings or ExportSettings()
    fmt, int8, dynamic = settings.format, settings.int8, settings.dynamic
    max_drop, calibration_batches = settings.max_drop, settings.calibration_batches
    out = Path(out)
    if out.suffix != FORMATS[fmt] and fmt != "torchscript":
        raise ConfigError(f"--format {fmt} writes a {FORMATS[fmt]} file: name --out like model{FORMATS[fmt]}")
    segmentation = dataset.task == "segmentation"
    inference = Inference.recorded(checkpoint.spec.inference, checkpoint.input_shape) if segmentation else None
    if segmentation:
        if max_drop is not None:
            raise ConfigError("--max-drop controls int8 quantization by validation AUROC: it is for classifiers; "
                              "a segmentation export is checked by Dice against PyTorch instead")
        n_check = min(n_check, 16)  # whole volumes: a few are a thorough check
    else:
        check_model_matches_data(checkpoint, dataset)  # calibration and check inputs must fit the model
    patch = inference.patch_size if segmentation else None
    model = checkpoint.model.eval()
    x, y = _test_inputs(dataset, n_check, patch)
    if fmt == "openvino":
        return _export_openvino(checkpoint, dataset, out, x, int8, calibration_batches, max_drop, inference)
    if max_drop is not None:
        raise ConfigError("--max-drop is NNCF's accuracy-controlled quantization: use it with --format openvino")
    with torch.no_grad():
        expected = model(x)
    if fmt == "torchscript":
        return _export_torchscript(checkpoint, out, x, expected)
    if not int8:
        _export_fp32(model, checkpoint.spec, checkpoint.name, out, x[:1])
        diff = float((OnnxModel(out)(x) - expected).abs().max())
        return _checked(ExportResult(str(out), "onnx", out.stat().st_size, max_abs_diff=diff, n_checked=len(x)))
    with tempfile.TemporaryDirectory() as tmpdir:
        fp32 = Path(tmpdir) / "fp32.onnx"
        _export_fp32(model, checkpoint.spec, checkpoint.name, fp32, x[:1])
        _quantize(fp32, out, _training_batches(dataset, calibration_batches, patch=patch), dynamic)
        if segmentation:
            return ExportResult(str(out), "onnx-int8-dynamic" if dynamic else "onnx-int8", out.stat().st_size,
                                **_segmentation_figures(checkpoint, OnnxModel(out), dataset, inference))
        full_x, full_y = _test_inputs(dataset, len(dataset.split("test")))
        p32 = torch.softmax(OnnxModel(fp32)(full_x), 1).numpy()
    p8 = torch.softmax(OnnxModel(out)(full_x), 1).numpy()
    scores = (lambda p: p[:, 1]) if p32.shape[1] == 2 else (lambda p: p)
    a32, a8 = compute_auroc(full_y, scores(p32)), compute_auroc(full_y, scores(p8))
    return ExportResult(str(out), "onnx-int8-dynamic" if dynamic else "onnx-int8", out.stat().st_size,
                        agreement=float(np.mean(p32.argmax(1) == p8.argmax(1))),
                        auroc_fp32=a32, auroc_int8=a8, auroc_delta=a8 - a32, n_checked=len(full_y))


def export_onnx(model: torch.nn.Module, example_inputs: torch.Tensor, path: str | Path, *, int8: bool = False,
                calibration: list | None = None) -> ExportResult:
    """Export any PyTorch model to ONNX and check it on `example_inputs`.

    fp32 must reproduce PyTorch within 1e-4 on the examples (or nothing is written); int8 (static QDQ,
    per-channel weights, unsigned activations: the fast combination on CPUs measured here) is calibrated on
    `calibration` (input batches, or (inputs, labels) batches) and reports its agreement with fp32 on the
    examples. Give a few hundred real inputs as examples: zeros check nothing.

    Raises:
        ExportError: an operator ONNX cannot express, or an export that does not reproduce the model.
        ConfigError: int8 without calibration batches.
    """
    out, model = Path(path), model.eval()
    x = torch.as_tensor(example_inputs).float()
    with torch.no_grad():
        expected = model(x)
    spec = CheckpointSpec.read({"model": {"name": type(model).__name__, "input_shape": list(x.shape[1:]),
                                 "n_classes": int(expected.shape[-1])}}, "the exported model")
    if not int8:
        _export_fp32(model, spec, type(model).__name__, out, x[:1])
        diff = float((OnnxModel(out)(x) - expected).abs().max())
        return _checked(ExportResult(str(out), "onnx", out.stat().st_size, max_abs_diff=diff, n_checked=len(x)))
    batches = [torch.as_tensor(b[0] if isinstance(b, (tuple, list)) else b).float().numpy() for b in calibration or []]
    if not batches:
        raise ConfigError("int8 export needs calibration=[inputs, ...]: a few batches of real training inputs")
    with tempfile.TemporaryDirectory() as tmpdir:
        fp32 = Path(tmpdir) / "fp32.onnx"
        _export_fp32(model, spec, type(model).__name__, fp32, x[:1])
        _quantize(fp32, out, batches)
        p32 = OnnxModel(fp32)(x)
    p8 = OnnxModel(out)(x)
    return ExportResult(str(out), "onnx-int8", out.stat().st_size,
                        agreement=float((p32.argmax(1) == p8.argmax(1)).float().mean()), n_checked=len(x))


def _export_openvino(checkpoint: Checkpoint, dataset: Dataset, out: Path, x: torch.Tensor, int8: bool,
                     calibration_batches: int, max_drop: float | None,
                     inference: Inference | None = None) -> ExportResult:
    from medprune.deploy.openvino_export import export_openvino

    def checked(diff: float) -> None:
        _checked(ExportResult(str(out), "openvino", 0, max_abs_diff=diff))

    if inference is not None:  # segmentation: int8 judged by Dice against PyTorch on the model's own windows
        figures = export_openvino(checkpoint.model, checkpoint.spec, out, check_x=x, int8=int8, checked=checked,
                                  calibration=_training_batches(dataset, calibration_batches,
                                                                patch=inference.patch_size) if int8 else None)
        if int8:
            figures = _segmentation_figures(checkpoint, OpenVinoModel(out), dataset, inference)
        size = out.stat().st_size + out.with_suffix(".bin").stat().st_size
        return ExportResult(str(out), "openvino-int8" if int8 else "openvino", size, **figures)
    val = dataset.split("val")
    figures = export_openvino(
        checkpoint.model, checkpoint.spec, out, check_x=x, int8=int8, max_drop=max_drop, checked=checked,
        calibration=_training_batches(dataset, calibration_batches) if int8 else None,
        validation=(to_tensor(val.x, dataset.preprocessing).numpy(), val.y) if int8 else None,
        test=_test_inputs(dataset, len(dataset.split("test"))) if int8 else None)
    size = out.stat().st_size + out.with_suffix(".bin").stat().st_size
    return ExportResult(str(out), "openvino-int8" if int8 else "openvino", size, **figures)


def _export_torchscript(checkpoint: Checkpoint, out: Path, x: torch.Tensor, expected: torch.Tensor) -> ExportResult:
    """BatchNorm folded into the convolutions, traced and frozen: the graph PyTorch optimizes for inference when
    it is loaded (see medprune.models.torchscript_model), checked as loaded against the model."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer chatter
        frozen = torch.jit.freeze(torch.jit.trace(for_cpu_inference(checkpoint.model, channels_last=False), x[:1]))
    counts = model_counts(checkpoint.model, tuple(x.shape[1:]))
    write_atomic(out, lambda tmp: save_torchscript(frozen, checkpoint.spec, counts, tmp))
    with torch.no_grad():
        diff = float((TorchScriptModel(out)(x) - expected).abs().max())
    return _checked(ExportResult(str(out), "torchscript", out.stat().st_size, max_abs_diff=diff, n_checked=len(x)))


def _checked(result: ExportResult) -> ExportResult:
    if not result.max_abs_diff < FP32_TOLERANCE:
        Path(result.path).unlink(missing_ok=True)
        if result.path.endswith(".xml"):
            Path(result.path).with_suffix(".bin").unlink(missing_ok=True)
        raise ExportError(f"the exported model differs from PyTorch by {result.max_abs_diff:.2e} (limit "
                          f"{FP32_TOLERANCE:g}) on real test inputs: the export is not faithful; nothing was written")
    return result
