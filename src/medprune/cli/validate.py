"""`medprune validate`: is each candidate non-inferior to the reference on the same test cases?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from medprune import api
from medprune.cli.app import command, console
from medprune.cli.options import DataDirOpt, OptionalDataOpt, ProgressOpt, SubgroupOpt
from medprune.cli.schema_options import settings_options
from medprune.cli.show import show_verdicts


@command("validate", outputs={"out": "dir"})
@settings_options(api.ProtocolOptions, into="options")
@settings_options(api.InferenceOptions, into="serving")
def validate(
    options: api.ProtocolOptions,
    serving: api.InferenceOptions,
    reference: Annotated[Path, typer.Option("--reference", help="The reference: run directory or model.pt, or an "
                                                                 "exported .onnx, .xml (OpenVINO) or TorchScript .pt "
                                                                 "file.")],
    candidate: Annotated[list[Path], typer.Option("--candidate", help="A candidate: run directory, model.pt, or an exported "
                                                                         ".onnx / .xml / TorchScript .pt (repeatable).")],
    data: OptionalDataOpt = None,
    margin: Annotated[Optional[str], typer.Option("--margins", "--margin", help=(
        "Non-inferiority margins: a number for the primary metric, or auroc=0.01,sensitivity=0.05,specificity=0.05 "
        "(default 0.01 for the AUROC). Segmentation: dice=0.02,hd95=1,dice_fall=0.1,fall_share=0.05 (the default; "
        "HD95 in mm, or pixels for images stored without a pixel size)."))] = None,
    endpoints: Annotated[Optional[str], typer.Option(help="Co-primary endpoints, comma-separated (default: the "
                                                           "metric, sensitivity and specificity at the reference "
                                                           "threshold).")] = None,
    subgroup: SubgroupOpt = None,
    subgroup_file: Annotated[Optional[Path], typer.Option(help="CSV with one row per test case holding the "
                                                               "--subgroup columns (for image data).")] = None,
    recalibrate: Annotated[bool, typer.Option("--recalibrate", help="Also report calibration after temperature "
                                                                   "scaling fitted on validation.")] = False,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    intended_use: Annotated[Optional[str], typer.Option(help="Intended-use statement for the model card.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Report directory.")] = Path("runs/validation"),
    data_dir: DataDirOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Decide non-inferiority with a pre-specified margin; write validation.json and report.html.

    The protocol's settings are declared once in medprune.validation.protocol.ProtocolOptions (also a recipe's
    validation:)."""
    api.check_device(serving.device)
    ref = api.load_model(reference)
    cands = [api.load_model(c) for c in candidate]
    with api.running_models_on(serving.device, ref, *cands):
        _validate(options, ref, cands, data, margin, endpoints, subgroup, subgroup_file, recalibrate, seed,
                  intended_use, out, data_dir, progress)


def _validate(options, ref, cands, data, margin, endpoints, subgroup, subgroup_file, recalibrate, seed, intended_use,
              out, data_dir, progress) -> None:
    if ref.spec.task == "segmentation":
        dataset = api.load_data_for(ref, data, data_dir=data_dir, subgroups=subgroup or None)
        record = api.validate_segmentation(
            ref, cands, dataset, out, margins=api.parse_segmentation_margins(margin),
            alpha=options.alpha, n_resamples=options.n_resamples, seed=seed,
            min_cases=options.min_cases_per_class if "min_cases_per_class" in options.model_fields_set else None,
            subgroups=list(subgroup or []), intended_use=intended_use)
        show_verdicts(record, dataset.name)
        console.print(f"report written to {out / 'report.html'} and {out / 'validation.json'}")
        return
    protocol = api.build_protocol(margin=margin or "0.01", endpoints=endpoints, seed=seed,
                                  subgroups=list(subgroup or []), recalibrate=recalibrate, **options.model_dump())
    table_subgroups = None if subgroup_file else (subgroup or None)
    dataset = api.load_data_for(ref, data, data_dir=data_dir, subgroups=table_subgroups)
    record = api.validate(ref, cands, dataset, protocol, out, subgroup_file=subgroup_file, intended_use=intended_use,
                          progress=progress)
    show_verdicts(record, dataset.name)
    console.print(f"report written to {out / 'report.html'} and {out / 'validation.json'}")
