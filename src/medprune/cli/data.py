"""`medprune data audit` and `medprune data prune`: duplicates and leakage; smaller training sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medprune import api
from medprune.records.data_subset import DataSubsetRecord
from medprune.errors import ConfigError
from medprune.records import AuditRecord
from medprune.cli.app import command, console, data_app
from medprune.cli.schema_options import settings_options
from medprune.cli.options import (DataDirOpt, DataOpt, OldLabelColumnOpt,
                                  ProgressOpt, label_column_of)


# Options that shape what a model is fed (or how a training split is carved) mean nothing to data pruning; the
# audit also reports patients in two splits instead of refusing them.
TRAINING_ONLY_READS = ("subgroups", "subgroups_as_input", "allow_columns", "val_fraction", "classes")
AUDIT_ONLY_READS = (*TRAINING_ONLY_READS, "allow_group_overlap")


@command("audit", parent=data_app, outputs={"json_out": "file", "html": "file"})
@settings_options(api.DataOptions, into="reading", exclude=AUDIT_ONLY_READS)
def audit(
    data: DataOpt,
    reading: api.DataOptions,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the audit record here.")] = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="Write the HTML page (leakage pairs shown).")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="Also compare penultimate features of this "
                                                                   "trained model (cosine similarity).")] = None,
    max_distance: Annotated[Optional[float], typer.Option(help="Near duplicates: pHash bits (default 2) or table "
                                                                "distance (default 1e-6).")] = None,
    min_cosine: Annotated[float, typer.Option(help="Near duplicates with --model: cosine at least this.")] = 0.995,
    data_dir: DataDirOpt = None,
    target: OldLabelColumnOpt = None,
) -> None:
    """Find exact and near duplicates within and across splits; report leakage and redundancy per class."""
    settings = api.AuditSettings(max_distance=max_distance, min_cosine=min_cosine)
    # The audit reports patients in two splits rather than refusing to load them.
    reading = reading.replace(label_column=label_column_of(reading.label_column, target), allow_group_overlap=True)
    dataset = api.load_data(data, data_dir=data_dir, **reading.load_kwargs())
    api.check_positive_applies(dataset, reading.positive_class)
    record = api.audit_data(dataset, settings, model=api.load_model(model) if model is not None else None,
                            json_out=json_out, html=html)
    audit = AuditRecord.model_validate(record.to_dict())
    console.print(f"{dataset.name}: {audit.method.near} (threshold {audit.method.threshold:g})")
    for split, block in audit.duplicates.within.items():
        console.print(f"  within {split}: {block.count} pairs ({block.exact} exact, {block.near} near), "
                      f"{audit.redundancy[split].removable} removable")
    for key, block in audit.duplicates.across.items():
        flag = "[red]leakage[/]" if block.count else "none"
        console.print(f"  across {key}: {block.count} pairs ({block.exact} exact, {block.near} near) {flag}")
    for key, block in (audit.group_leakage or {}).items():
        flag = "[red]leakage[/]" if block["patients"] else "none"
        console.print(f"  patients in {key}: {block['patients']} {flag}")
    written = [str(p) for p in (json_out, html) if p]
    if written:
        console.print(f"written: {', '.join(written)}")


@command("prune", parent=data_app, outputs={"out": "dir"})
@settings_options(api.DataOptions, into="reading", exclude=TRAINING_ONLY_READS)
@settings_options(api.AcceleratorOptions, into="accelerator")
def prune(
    data: DataOpt,
    reading: api.DataOptions,
    accelerator: api.AcceleratorOptions,
    out: Annotated[Path, typer.Option("--out", help="Folder for subset.json (pass it to --data), scores.npy.")],
    score: Annotated[str, typer.Option(help="el2n, grand, forgetting, prototype or random.")] = "el2n",
    keep: Annotated[float, typer.Option(help="Share of the training split to keep, in (0, 1].")] = 0.5,
    stratify: Annotated[bool, typer.Option("--stratify/--no-stratify", help="Keep class proportions.")] = True,
    drop_hardest: Annotated[float, typer.Option(help="Share of each class's hardest cases dropped first "
                                                     "(likely label noise).")] = 0.0,
    easy_negatives_only: Annotated[bool, typer.Option(
        "--easy-negatives-only", help="Remove only the easiest negatives; keep every positive.")] = False,
    keep_easy: Annotated[bool, typer.Option("--keep-easy", help="Keep the easiest cases instead of the hardest "
                                                                "(better for small datasets).")] = False,
    proxy_model: Annotated[str, typer.Option(help="Architecture of the short proxy runs.")] = "smallcnn",
    proxy_epochs: Annotated[int, typer.Option(help="Epochs of each proxy run.")] = 3,
    proxy_runs: Annotated[int, typer.Option(help="Proxy runs averaged (el2n, grand).")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the proxy runs and random scores.")] = 0,
    data_dir: DataDirOpt = None,
    target: OldLabelColumnOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Score every training case and keep the hardest (or easiest) share per class; val and test stay whole."""
    api.SCORES.get(score)
    selection = api.Selection(keep=keep, stratify=stratify, drop_hardest=drop_hardest,
                          easy_negatives_only=easy_negatives_only, prefer="easy" if keep_easy else "hard").check()
    if proxy_epochs < 1 or proxy_runs < 1:
        raise ConfigError("--proxy-epochs and --proxy-runs must be >= 1")
    api.check_device(accelerator.device)
    reading = reading.replace(label_column=label_column_of(reading.label_column, target))
    dataset = api.load_data(data, data_dir=data_dir, **reading.load_kwargs())
    api.check_positive_applies(dataset, reading.positive_class)
    proxy = api.ProxySettings(model=proxy_model, epochs=proxy_epochs, runs=proxy_runs, seed=seed, progress=progress,
                              **accelerator.accelerator())
    record = api.prune_data(dataset, score, selection, out, proxy)
    console.print(DataSubsetRecord.model_validate(record.to_dict()).said(), markup=False)
    console.print(f"written: {Path(out) / 'subset.json'} (train on it with --data {Path(out) / 'subset.json'})")
