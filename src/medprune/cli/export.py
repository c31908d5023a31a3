"""`medprune export`: ONNX or OpenVINO (fp32 or int8) or TorchScript, verified on real test inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medprune import api
from medprune.cli.app import command, console
from medprune.cli.options import DataDirOpt, ModelDirOpt, OptionalDataOpt
from medprune.errors import ConfigError


@command("export", outputs={"out": "file"})
def export(
    model: ModelDirOpt,
    out: Annotated[Path, typer.Option("--out", help="File to write (.onnx; .xml for OpenVINO, with its .bin "
                                                     "beside it; .pt for TorchScript).")],
    fmt: Annotated[str, typer.Option("--format", help="onnx (ONNX Runtime), openvino (OpenVINO IR) or "
                                                      "torchscript.")] = "onnx",
    int8: Annotated[bool, typer.Option("--int8", help="Post-training int8, calibrated on training images: static "
                                                      "QDQ (per-channel, unsigned activations) for onnx, NNCF for "
                                                      "openvino.")] = False,
    max_drop: Annotated[Optional[float], typer.Option(
        "--max-drop", help="openvino --int8: NNCF accuracy-controlled quantization; layers whose quantization "
                           "costs more than this validation AUROC stay in higher precision (e.g. 0.005).")] = None,
    dynamic: Annotated[bool, typer.Option("--dynamic", help="With --int8: quantise activations at run time "
                                                            "(no calibration; slower than static here).")] = False,
    calibration_batches: Annotated[int, typer.Option(help="Training batches for int8 calibration.")] = 8,
    data: OptionalDataOpt = None,
    data_dir: DataDirOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file at --out.")] = False,
) -> None:
    """Export a model; fp32 must match PyTorch within 1e-4, int8 reports agreement and AUROC change (Dice for
    segmentation)."""
    checkpoint = api.load_model(model)
    dataset = api.load_data_for(checkpoint, data, data_dir=data_dir)
    if dynamic and not int8:
        raise ConfigError("--dynamic is a kind of int8 quantisation: add --int8")
    result = api.export(checkpoint, dataset, out, fmt=fmt, int8=int8, calibration_batches=calibration_batches,
                        dynamic=dynamic, max_drop=max_drop)
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
