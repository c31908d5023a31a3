"""`medprune export`: ONNX or OpenVINO (fp32 or int8) or TorchScript, verified on real test inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medprune import api
from medprune.cli.app import command, console
from medprune.cli.options import DataDirOpt, ModelDirOpt, OptionalDataOpt
from medprune.cli.schema_options import settings_options


@command("export", outputs={"out": "file"})
@settings_options(api.ExportSettings)
def export(
    model: ModelDirOpt,
    settings: api.ExportSettings,
    out: Annotated[Path, typer.Option("--out", help="File to write (.onnx; .xml for OpenVINO, with its .bin "
                                                     "beside it; .pt for TorchScript).")],
    data: OptionalDataOpt = None,
    data_dir: DataDirOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file at --out.")] = False,
) -> None:
    """Export a model; fp32 must match PyTorch within 1e-4, int8 reports agreement and AUROC change (Dice for
    segmentation).

    The export settings are declared once in medprune.deploy.export.ExportSettings (also the keywords of its export())."""
    checkpoint = api.load_model(model)
    dataset = api.load_data_for(checkpoint, data, data_dir=data_dir)
    result = api.export(checkpoint, dataset, out, settings)
    fmt, dynamic = settings.format, settings.dynamic
    if result.max_abs_diff is not None:
        console.print(f"{result.format} written to {out} ({result.size_bytes:,} bytes); max |difference| from "
                      f"PyTorch on {result.n_checked} test inputs: {result.max_abs_diff:.2e}")
    elif result.dice_int8 is not None:
        kind = "int8 OpenVINO (NNCF)" if fmt == "openvino" else f"{'dynamic ' if dynamic else ''}int8 ONNX"
        console.print(f"{kind} written to {out} ({result.size_bytes:,} bytes); on {result.n_checked} test cases, "
                      f"Dice of its contours with PyTorch fp32's {result.dice_agreement:.4f}; mean Dice "
                      f"{result.dice_fp32:.4f} -> {result.dice_int8:.4f}")
    else:
        kind = "int8 OpenVINO (NNCF)" if fmt == "openvino" else f"{'dynamic ' if dynamic else ''}int8 ONNX"
        console.print(f"{kind} written to {out} ({result.size_bytes:,} bytes); "
                      "agreement with fp32 on "
                      f"{result.n_checked} test cases: {result.agreement:.4f}; AUROC {result.auroc_fp32:.4f} -> "
                      f"{result.auroc_int8:.4f} ({result.auroc_delta:+.4f})")
