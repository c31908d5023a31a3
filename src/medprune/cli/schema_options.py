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


CONTEXT = "settings_context"  # the Typer context, to tell the options given from those left at their default


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
        inner_takes_context = any(p.name == CONTEXT for p in own)
        if not inner_takes_context:  # Typer hands the command's context to a parameter typed typer.Context
            own.append(inspect.Parameter(CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
        declared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=field.default,
                                      annotation=Annotated[cli_type(field), option_of(name, field)])
                    for name, field in model.model_fields.items() if name in names]

        @functools.wraps(fn)
        def run(**values: Any) -> Any:
            given = {name: values.pop(name) for name in names}
            ctx = values[CONTEXT] if inner_takes_context else values.pop(CONTEXT, None)
            # Only the options the user gave are passed, so `model_fields_set` says what was chosen (as it does for
            # a recipe or a Python call): a default may then depend on the data (a volume's batch size).
            if ctx is not None:
                given = {name: value for name, value in given.items()
                         if getattr(ctx.get_parameter_source(name), "name", None) != "DEFAULT"}
            return fn(**values, **{into: model(**given)})

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
