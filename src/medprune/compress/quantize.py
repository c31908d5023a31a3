"""`quantize`: post-training int8 in ONNX Runtime (static QDQ calibrated on training images, or dynamic) or in
OpenVINO (NNCF, optionally accuracy-controlled)."""

from __future__ import annotations

from typing import Literal

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
        backend: Literal["onnxruntime", "openvino"] = "onnxruntime"
        mode: Literal["static", "dynamic"] = "static"  # onnxruntime only
        # the export's own declarations (names, defaults, ranges)
        calibration_batches: int = ExportSettings.model_fields["calibration_batches"]
        max_drop: float | None = ExportSettings.model_fields["max_drop"]  # openvino: NNCF accuracy control (AUROC)

    def apply(self, model: Checkpoint, ctx: Context) -> Checkpoint:
        require_pytorch(model, "quantize")
        spec = compressed_spec(model, ctx, self)  # written into the ONNX metadata by the export
        o = self.options
        openvino = o.backend == "openvino"
        path = ctx.workdir / ("model.xml" if openvino else "model.onnx")
        result = export(Checkpoint(model.model, spec), ctx.dataset, path,
                        format=o.backend if openvino else "onnx", int8=True,
                        calibration_batches=o.calibration_batches, dynamic=o.mode == "dynamic", max_drop=o.max_drop)
        self.details.update(agreement_with_fp32=result.agreement, auroc_fp32=result.auroc_fp32,
                            auroc_int8=result.auroc_int8)
        return load_checkpoint(path)
