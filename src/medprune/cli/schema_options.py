"""Typer options made from a declared settings model (medprune.schema), so a command restates nothing."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic.fields import FieldInfo

from medprune.schema import Settings, extra_of, flags


def settings_options(model: type[Settings], *, into: str = "settings",
                     exclude: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Give a command one option per field of `model` (its flag, type, default and help from the declaration)
    and call it with `into=model(**those values)`, checked once, in the same place as for a recipe or Python."""

    names = [name for name, field in model.model_fields.items() if name not in exclude and _on_cli(field)]

    def decorate(fn: Callable) -> Callable:
        hints = typing.get_type_hints(fn, include_extras=True)
        own = [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default,
                                 annotation=hints.get(p.name, p.annotation))
               for p in inspect.signature(fn).parameters.values() if p.name != into]
        declared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=field.default,
                                      annotation=Annotated[cli_type(field), option_of(name, field)])
                    for name, field in model.model_fields.items() if name in names]

        @functools.wraps(fn)
        def run(**values: Any) -> Any:
            settings = model(**{name: values.pop(name) for name in names})
            return fn(**values, **{into: settings})

        parameters = own + declared
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        return run

    return decorate


def cli_type(field: FieldInfo) -> Any:
    """The type the command line reads: the field's own, or the `cli_type` it declares (text that its validator
    parses, e.g. `40,400` for a window)."""
    if extra_of(field).get("cli_type") == "text":
        return str | None if field.default is None else str
    return field.annotation


def _on_cli(field: FieldInfo) -> bool:
    """Fields marked cli=False are set by the program (or by another option), not by a flag of their own."""
    return extra_of(field).get("cli") is not False


def option_of(name: str, field: FieldInfo) -> typer.models.OptionInfo:
    """The Typer option of one declared field: `--name` (and older spellings), and the declared help with its
    range."""
    declared = flags(name, field)
    extra = extra_of(field)
    if extra.get("negative"):  # an optional switch: --structured / --unstructured, neither meaning automatic
        declared = [f"{declared[0]}/{extra['negative']}", *declared[1:]]
    return typer.Option(*declared, help=help_of(field), show_default=field.default is not None)


def help_of(field: FieldInfo) -> str:
    bounds = {type(m).__name__: m for m in field.metadata}
    parts = []
    for kind, sign in (("Gt", ">"), ("Ge", ">="), ("Lt", "<"), ("Le", "<=")):
        if kind in bounds:
            parts.append(f"{sign} {getattr(bounds[kind], kind.lower())}")
    return (field.description or "") + (f" [{', '.join(parts)}]" if parts else "")
