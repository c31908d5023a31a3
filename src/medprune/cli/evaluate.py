"""`medprune evaluate`: clinical metrics and efficiency of a trained model on a split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medprune import api
from medprune.cli.schema_options import settings_options
from medprune.cli.app import command, console
from medprune.cli.options import (DataDirOpt, LabelColumnOpt, ServedModelOpt, OldLabelColumnOpt, OptionalDataOpt,
                                  TargetSensitivityOpt, label_column_of)
from medprune.cli.show import show_metrics


@command("evaluate", outputs={"json_path": "file"})
@settings_options(api.InferenceOptions, into="serving")
@settings_options(api.LatencyOptions, into="timing")
def evaluate(
    model: ServedModelOpt,
    serving: api.InferenceOptions,
    timing: api.LatencyOptions,
    data: OptionalDataOpt = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Write the metrics as JSON here.")] = None,
    target_sensitivity: TargetSensitivityOpt = None,
    data_dir: DataDirOpt = None,
    label_column: LabelColumnOpt = None,
    target: OldLabelColumnOpt = None,
    repeats: Annotated[int, typer.Option(help="Timed repeats per latency figure.")] = 10,
) -> None:
    """Evaluate a model: AUROC, sensitivity/specificity at the validation threshold, calibration, efficiency."""
    api.check_device(serving.device)
    api.check_device(timing.latency_device)
    checkpoint = api.load_model(model)
    dataset = api.load_data_for(checkpoint, data, data_dir=data_dir, label_column=label_column_of(label_column, target))
    with api.running_models_on(serving.device, checkpoint):
        record = api.evaluate_model(checkpoint, dataset, split=split, target_sensitivity=target_sensitivity,
                                    latency_repeats=repeats, latency_device=timing.latency_device)
    show_metrics(record, f"{checkpoint.name} on {dataset.name}: {split} split")
    if json_path is not None:
        api.write_json_atomic(json_path, record.to_dict())
        console.print(f"metrics written to {json_path}")
