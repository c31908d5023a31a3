"""`quantize`: post-training int8 in ONNX Runtime (static QDQ calibrated on training images, or dynamic) or in
OpenVINO (NNCF, optionally accuracy-controlled)."""

from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import model_validator

from medprune.compress.technique import (Context, StepOptions, Technique, compressed_spec, register_technique,
                                         require_pytorch)
from medprune.deploy.export import ExportSettings, export
from medprune.models.checkpoint import Checkpoint, load_checkpoint


@register_technique
class Quantize(Technique):
    """Post-training int8: ONNX Runtime static QDQ (calibrated) or dynamic, or OpenVINO through NNCF."""

    name = "quantize"
    produces_onnx = True

    class Options(StepOptions):
        technique: Literal["quantize"] = "quantize"
        # the export's own names (format, dynamic) and declarations (defaults, ranges); int8 is what this step does
        format: Literal["onnx", "openvino"] = "onnx"
        dynamic: bool = ExportSettings.model_fields["dynamic"]  # onnx only
        calibration_batches: int = ExportSettings.model_fields["calibration_batches"]
        max_drop: float | None = ExportSettings.model_fields["max_drop"]  # openvino: NNCF accuracy control (AUROC)

        @model_validator(mode="before")
        @classmethod
        def _older_spellings(cls, values: Any) -> Any:
            """`backend: onnxruntime|openvino` and `mode: static|dynamic` are read for one release."""
            if not isinstance(values, dict) or not {"backend", "mode"} & set(values):
                return values
            warnings.warn("a quantize step's 'backend:' and 'mode:' are now spelt 'format: onnx|openvino' and "
                          "'dynamic: true|false', as medprune export --format / --dynamic are", FutureWarning,
                          stacklevel=2)
            values = dict(values)
            backend, mode = values.pop("backend", None), values.pop("mode", None)
            if backend is not None:
                values.setdefault("format", "onnx" if backend == "onnxruntime" else backend)
            if mode is not None:
                values.setdefault("dynamic", {"static": False, "dynamic": True}.get(mode, mode))
            return values

        @model_validator(mode="after")
        def _combination(self) -> Quantize.Options:
            if self.dynamic and self.format != "onnx":
                raise ValueError("dynamic: true is ONNX Runtime's dynamic quantization: use it with format: onnx")
            if self.max_drop is not None and self.format != "openvino":
                raise ValueError("max_drop is NNCF's accuracy-controlled quantization: use it with format: openvino")
            return self

    def apply(self, model: Checkpoint, ctx: Context) -> Checkpoint:
        require_pytorch(model, "quantize")
        spec = compressed_spec(model, ctx, self)  # written into the ONNX metadata by the export
        o = self.options
        path = ctx.workdir / ("model.xml" if o.format == "openvino" else "model.onnx")
        result = export(Checkpoint(model.model, spec), ctx.dataset, path, format=o.format, int8=True,
                        calibration_batches=o.calibration_batches, dynamic=o.dynamic, max_drop=o.max_drop)
        if ctx.dataset.task == "segmentation":  # judged by Dice against PyTorch fp32, on the model's own windows
            self.details.update(dice_agreement=result.dice_agreement, dice_fp32=result.dice_fp32,
                                dice_int8=result.dice_int8)
        else:
            self.details.update(agreement_with_fp32=result.agreement, auroc_fp32=result.auroc_fp32,
                                auroc_int8=result.auroc_int8)
        return load_checkpoint(path)
