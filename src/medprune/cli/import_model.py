"""`medprune import`: bring a network trained elsewhere into a run directory every verb accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from medprune import api
from medprune.cli.app import command, console
from medprune.cli.options import DataDirOpt, DataOpt, OldLabelColumnOpt, OutOpt, label_column_of
from medprune.cli.schema_options import settings_options
from medprune.cli.show import show_metrics
from medprune.errors import ConfigError


@command("import", outputs={"out": "dir"})
@settings_options(api.DataOptions, into="reading")
def import_model(
    out: OutOpt,
    data: DataOpt,
    reading: api.DataOptions,
    monai: Annotated[Optional[str], typer.Option("--monai", help="A monai.networks.nets class or function, "
                                                                  "e.g. resnet18 or DenseNet121.")] = None,
    factory: Annotated[Optional[str], typer.Option(help="Your own builder, package.module:function (imported by "
                                                        "name, never unpickled).")] = None,
    bundle: Annotated[Optional[Path], typer.Option(help="A MONAI bundle folder: network_def of "
                                                        "configs/inference.json, weights in models/.")] = None,
    kwargs: Annotated[str, typer.Option(help="Keyword arguments of the network as JSON.")] = "{}",
    weights: Annotated[Optional[Path], typer.Option(help="state_dict file: .pt (read weights-only) or "
                                                         ".safetensors.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a run already in --out.")] = False,
    trust_bundle_code: Annotated[bool, typer.Option(
        "--trust-bundle-code", help="Evaluate the bundle's Python expressions ($...) and build a network_def "
                                    "that is not a MONAI network: this runs the bundle's code; only for bundles "
                                    "you trust.")] = False,
    input_range: Annotated[Optional[str], typer.Option(
        help="The range the network's own training scaled 8-bit images to, LOW,HIGH (e.g. 0,1). Default: read from "
             "a bundle's ScaleIntensityRange(d) / ScaleIntensity(d), else medprune's -1,1.")] = None,
    mean: Annotated[Optional[str], typer.Option(
        help="Instead of --input-range: per-channel mean subtracted after scaling to [0, 1] (e.g. "
             "0.485,0.456,0.406), with --std.")] = None,
    std: Annotated[Optional[str], typer.Option(help="Per-channel standard deviation that divides, with --mean.")] = None,
    target: OldLabelColumnOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Import a trained network (MONAI, your own factory, or a MONAI bundle): evaluate it on the data, choose
    its threshold on validation, and write a run directory that prune, export and validate accept.

    The data options are train's (medprune.data.DataOptions): image size and channels, manifest columns, masks."""
    api.check_run_out(out, resume=False, overwrite=overwrite)  # before the bundle or factory is touched
    try:
        arguments = json.loads(kwargs)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--kwargs is not JSON ({err.msg} at character {err.pos}): write e.g. "
                          '\'{"spatial_dims": 2, "n_input_channels": 1, "num_classes": 2}\'') from None
    if not isinstance(arguments, dict):
        raise ConfigError("--kwargs must be a JSON object of keyword arguments")
    name, arguments, bundle_weights = api.network_to_import(monai=monai, factory=factory, bundle=bundle,
                                                            kwargs=arguments, trust_bundle_code=trust_bundle_code)
    weights = weights or bundle_weights
    if bundle is not None and input_range is None and mean is None and std is None:
        input_range = api.bundle_input_range(bundle)
        if input_range is not None:
            console.print(f"input range {input_range}, as the bundle's preprocessing scales images")
    scaling = api.declared_scaling(input_range=input_range, mean=mean, std=std)
    reading = reading.replace(label_column=label_column_of(reading.label_column, target))
    dataset = api.load_data(data, data_dir=data_dir, **reading.load_kwargs())
    api.check_positive_applies(dataset, reading.positive_class)
    record = api.import_model(dataset, name, out, kwargs=arguments, weights=weights, overwrite=overwrite,
                              scaling=scaling)
    show_metrics(record, f"{name} on {dataset.name}: test split")
    console.print(f"run written to {out} (model.pt, metrics.json, summary.md): prune, export and validate accept it")
