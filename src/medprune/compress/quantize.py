"""`quantize`: post-training int8 in ONNX Runtime, static QDQ (calibrated on training images) or dynamic."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medprune.compress.technique import (Context, StepOptions, Technique, compressed_spec, register_technique,
                                         require_pytorch)
from medprune.export import export
from medprune.models.checkpoint import Checkpoint
from medprune.models.onnx_model import OnnxModel


@register_technique
class Quantize(Technique):
    """Post-training int8 in ONNX Runtime: static QDQ (calibrated) or dynamic."""

    name = "quantize"
    produces_onnx = True

    class Options(StepOptions):
        technique: Literal["quantize"] = "quantize"
        mode: Literal["static", "dynamic"] = "static"
        calibration_batches: int = Field(default=8, ge=1)

    def apply(self, model: Checkpoint, ctx: Context) -> Checkpoint:
        require_pytorch(model, "quantize")
        spec = compressed_spec(model, ctx, self)  # written into the ONNX metadata by the export
        path = ctx.workdir / "model.onnx"
        result = export(Checkpoint(model.model, spec), ctx.dataset, path, int8=True,
                        calibration_batches=self.options.calibration_batches, dynamic=self.options.mode == "dynamic")
        self.details.update(agreement_with_fp32=result.agreement, auroc_fp32=result.auroc_fp32,
                            auroc_int8=result.auroc_int8)
        return Checkpoint(model=OnnxModel(path), spec=spec, path=path)
