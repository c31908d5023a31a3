"""`medprune list`: the registered names, the same in Python, CLI and recipes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from medprune.cli.app import command, console
from medprune.errors import UnknownNameError


@command("list")
def list_names(what: Annotated[str, typer.Argument(help="models, datasets or criteria")] = "models") -> None:
    """List registered models, datasets or pruning criteria."""
    from medprune.data import DATASETS
    from medprune.models import MODELS
    from medprune.pruning import CRITERIA

    table = Table(show_header=True)
    if what == "models":
        table.add_column("model")
        table.add_column("data")
        table.add_column("description")
        for name in MODELS.names():
            entry = MODELS.get(name)
            table.add_row(name, entry.modality, entry.description)
    elif what == "datasets":
        table.add_column("dataset")
        table.add_column("task")
        table.add_column("classes")
        for name in DATASETS.names():
            info = DATASETS.get(name)
            table.add_row(name, info.task, str(len(info.class_names)))
    elif what == "criteria":
        table.add_column("criterion")
        table.add_column("needs data")
        table.add_column("description")
        for name in CRITERIA.names():
            criterion = CRITERIA.get(name)
            doc = (criterion.__doc__ or sys.modules[criterion.__module__].__doc__ or "").strip().splitlines()[0]
            table.add_row(name, "yes" if criterion.needs_data else "no", doc)
    else:
        raise UnknownNameError(f"unknown list '{what}': choose models, datasets or criteria")
    console.print(table)
