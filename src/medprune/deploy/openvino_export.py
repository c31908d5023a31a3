"""Export to OpenVINO IR (`.xml` + `.bin`): fp32, or int8 by NNCF post-training quantization, optionally
accuracy-controlled (layers whose quantization costs validation AUROC stay in higher precision)."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medprune._atomic import write_failure
from medprune.errors import ConfigError
from medprune.evaluation.efficiency import count_macs
from medprune.evaluation.metrics import compute_auroc
from medprune.models.openvino_model import RT_MACS, RT_SPEC, OpenVinoModel
from medprune.models.spec import CheckpointSpec


def _convert(model: torch.nn.Module, example: torch.Tensor, spec: CheckpointSpec):
    import openvino as ov

    with warnings.catch_warnings():  # tracer chatter about constants; the result is verified by the caller
        warnings.simplefilter("ignore")
        converted = ov.convert_model(model.eval(), example_input=example[:1],
                                     input=[(-1, *example.shape[1:])])  # any batch size
    converted.set_rt_info(spec.exported_json(), RT_SPEC)
    converted.set_rt_info(str(count_macs(model, example.shape[1:])), RT_MACS)
    return converted


def _auroc(y: np.ndarray, logits: np.ndarray) -> float:
    probs = torch.softmax(torch.from_numpy(np.asarray(logits)), 1).numpy()
    return compute_auroc(y, probs[:, 1] if probs.shape[1] == 2 else probs)


def _quantize(converted, calibration: list[np.ndarray], validation: tuple[np.ndarray, np.ndarray] | None,
              max_drop: float | None):
    import nncf

    calib = nncf.Dataset(calibration)
    size = len(calibration)
    if max_drop is None:
        return nncf.quantize(converted, calib, subset_size=size, preset=nncf.QuantizationPreset.PERFORMANCE)
    x_val, y_val = validation

    def validate(compiled, items) -> float:
        return _auroc(y_val, np.concatenate([compiled(x)[0] for x in items]))

    batches = [x_val[i:i + 64] for i in range(0, len(x_val), 64)]
    return nncf.quantize_with_accuracy_control(
        converted, calibration_dataset=calib, validation_dataset=nncf.Dataset(batches), validation_fn=validate,
        max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE, subset_size=size,
        preset=nncf.QuantizationPreset.PERFORMANCE)


def _save(converted, out: Path) -> None:
    """Write `out` (.xml) and its .bin together: both go to a temporary folder beside them first, the .bin is
    moved into place before the .xml that names it."""
    import openvino as ov

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmpdir:
        staged = Path(tmpdir) / out.name
        try:
            ov.save_model(converted, str(staged), compress_to_fp16=False)
        except RuntimeError as err:
            failure = write_failure(err, out)
            if failure is None:
                raise
            raise failure from None
        os.replace(staged.with_suffix(".bin"), out.with_suffix(".bin"))
        os.replace(staged, out)


def export_openvino(model: torch.nn.Module, spec: dict[str, Any], out: Path, *, check_x: torch.Tensor,
                    int8: bool = False, calibration: list[np.ndarray] | None = None,
                    validation: tuple[np.ndarray, np.ndarray] | None = None, max_drop: float | None = None,
                    test: tuple[torch.Tensor, np.ndarray] | None = None,
                    checked: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Convert, quantize when `int8`, save, and measure the saved IR.

    fp32: the largest absolute difference from PyTorch on `check_x` is handed to `checked` (which refuses an
    unfaithful export). int8: agreement with the fp32 IR and AUROC of both on `test`.
    Returns the figures (`max_abs_diff`, or `agreement`, `auroc_fp32`, `auroc_int8`).
    """
    if max_drop is not None and not int8:
        raise ConfigError("--max-drop controls int8 quantization: add --int8")
    if max_drop is not None and not 0 < max_drop < 1:
        raise ConfigError(f"--max-drop must be in (0, 1) (absolute AUROC), got {max_drop:g}: try 0.005")
    converted = _convert(model, check_x, spec)
    if not int8:
        _save(converted, out)
        with torch.no_grad():
            diff = float((OpenVinoModel(out)(check_x) - model(check_x)).abs().max())
        if checked is not None:
            checked(diff)
        return {"max_abs_diff": diff, "n_checked": len(check_x)}
    quantized = _quantize(converted, calibration or [], validation, max_drop)
    _save(quantized, out)
    if test is None:  # the caller measures the saved IR itself (segmentation: Dice on whole cases)
        return {}
    x_test, y_test = test
    import openvino as ov

    fp32 = ov.Core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    p32 = np.concatenate([fp32(x_test[i:i + 256].numpy())[0] for i in range(0, len(x_test), 256)])
    int8_model = OpenVinoModel(out)
    p8 = np.concatenate([int8_model(x_test[i:i + 256]).numpy() for i in range(0, len(x_test), 256)])
    a32, a8 = _auroc(y_test, p32), _auroc(y_test, p8)
    return {"agreement": float(np.mean(p32.argmax(1) == p8.argmax(1))), "auroc_fp32": a32, "auroc_int8": a8,
            "auroc_delta": a8 - a32, "n_checked": len(y_test)}
