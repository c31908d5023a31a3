"""`medprune list`: the registered names, the same in Python, CLI and recipes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from medprune import api
from medprune.cli.app import command, console
from medprune.errors import UnknownNameError


def _models() -> tuple[list[str], list[list[str]]]:
    MODELS = api.MODELS
    return ["model", "data", "description"], [[n, MODELS.get(n).modality, MODELS.get(n).description]
                                               for n in MODELS.names()]


def _datasets() -> tuple[list[str], list[list[str]]]:
    DATASETS = api.DATASETS
    return ["dataset", "task", "classes"], [[n, DATASETS.get(n).task, str(len(DATASETS.get(n).class_names))]
                                            for n in DATASETS.names()]


def _criteria() -> tuple[list[str], list[list[str]]]:
    CRITERIA = api.CRITERIA

    def summary(criterion: type) -> str:
        doc = criterion.__doc__ or sys.modules[criterion.__module__].__doc__ or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    return ["criterion", "needs data", "description"], [
        [n, "yes" if CRITERIA.get(n).needs_data else "no", summary(CRITERIA.get(n))] for n in CRITERIA.names()]


def _techniques() -> tuple[list[str], list[list[str]]]:
    TECHNIQUES = api.TECHNIQUES

    def options(name: str) -> str:
        fields = TECHNIQUES.get(name).Options.model_fields
        defaults = {k: f.get_default(call_default_factory=True) for k, f in fields.items() if k != "technique"}
        return ", ".join(k if v is None else f"{k}={v!r}" for k, v in defaults.items())

    def summary(name: str) -> str:
        return (TECHNIQUES.get(name).__doc__ or "").strip()

    return ["technique", "description", "recipe options (defaults)"], [
        [n, summary(n), options(n)] for n in TECHNIQUES.names()]


def _samplers() -> tuple[list[str], list[list[str]]]:
    LEARNERS = api.LEARNERS
    return ["sampler", "description"], [[n, " ".join((LEARNERS.get(n).__doc__ or "").split())]
                                        for n in LEARNERS.names()]


def _scores() -> tuple[list[str], list[list[str]]]:
    SCORES = api.SCORES

    return ["score", "ranks with labels", "description"], [
        [n, "yes" if SCORES.get(n).uses_labels else "no", " ".join((SCORES.get(n).__doc__ or "").split())]
        for n in SCORES.names()]


def _corruptions() -> tuple[list[str], list[list[str]]]:
    return ["corruption", "images", "what it simulates", "severities 1-5"], [
        [name, kind, c.description, ", ".join(f"{p:g}" for p in c.params)]
        for kind, table in api.CORRUPTIONS.items() for name, c in table.items()]


LISTS: dict[str, Callable[[], tuple[list[str], list[list[str]]]]] = {
    "models": _models, "datasets": _datasets, "criteria": _criteria, "techniques": _techniques,
    "samplers": _samplers, "scores": _scores, "corruptions": _corruptions}


@command("list")
def list_names(what: Annotated[str, typer.Argument(
        help="models, datasets, criteria, techniques, samplers, scores or corruptions")] = "models") -> None:
    """List registered models, datasets, pruning criteria, compression techniques, search samplers, data scores or
    image corruptions."""
    if what not in LISTS:
        raise UnknownNameError(f"unknown list '{what}': choose {', '.join(LISTS)}")
    columns, rows = LISTS[what]()
    table = Table(show_header=True)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
