"""`medprune demo`: the main job, end to end on real data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medprune import api
from medprune.cli.app import command, console
from medprune.cli.options import DataDirOpt, ProgressOpt
from medprune.cli.show import show_metrics
from medprune.training import TrainConfig


@command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where the demo run is written.")] = Path("runs/demo"),
    model: Annotated[str, typer.Option("--model", help="Architecture to train.")] = "smallcnn",
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 10,
    data_dir: DataDirOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Train the default model on PneumoniaMNIST and write model, metrics and a readable summary."""
    dataset = api.load_data("pneumoniamnist", data_dir=data_dir)
    console.print(f"PneumoniaMNIST: {len(dataset.split('train'))} / {len(dataset.split('val'))} / "
                  f"{len(dataset.split('test'))} chest X-rays (train / val / test)")
    record = api.train(dataset, model, TrainConfig(epochs=epochs), out, overwrite=True, progress=progress)
    show_metrics(record, f"{model} on PneumoniaMNIST: test split")
    console.print(f"demo run written to {out}: read {out / 'summary.md'}")
