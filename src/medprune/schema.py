"""Settings declared once: one pydantic model per concept, from which every door is made.

A field's name, type, default, range and description are written once, on its model. The Typer options
(`medprune.cli.schema_options`), a recipe's keys and the Python keyword arguments are read from there, so a
default, a range or a spelling cannot differ between the command line, a recipe and Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from medprune.errors import ConfigError, MedpruneError


class Settings(BaseModel):
    """Base of every declared settings model: unknown names are errors, values are checked on creation, and a
    bad value is a one-line ConfigError (the CLI's exit code 2), not a pydantic traceback."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as err:
            raise ConfigError(one_line(err, type(self))) from None

    # Inside a recipe pydantic validates nested settings itself and reports the key path: marked as the base
    # __init__, this one is not called there.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes`, checked again (model_copy would skip the checks); the fields chosen stay those
        set before plus those changed, so a default that depends on the data can still apply."""
        kept = self.model_dump(include=set(self.model_fields_set))
        return type(self)(**(kept | changes))


def one_line(err: ValidationError, model: type[BaseModel] | None = None) -> str:
    """The first problem of a pydantic error as a sentence naming the setting (and its flag)."""
    first = err.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or "settings"
    message = str(first["msg"])
    if first["type"] == "value_error":  # a medprune check: its message is already a sentence
        return message.removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        known = ", ".join(sorted(model.model_fields)) if model is not None else ""
        return f"unknown setting '{name}'" + (f": known settings are {known}" if known else "")
    shown = f", got {first['input']!r}" if "input" in first and first["type"] != "missing" else ""
    field = model.model_fields.get(name) if model is not None else None
    flag = flags(name, field)[0] if field is not None else flag_of(name)
    return f"{name.replace('_', ' ')} ({flag}): {message[0].lower()}{message[1:]}{shown}"


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def extra_of(field: FieldInfo) -> dict[str, Any]:
    """What a field declares beyond pydantic's own keys (flag, aliases, negative, cli, cli_type)."""
    return field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}


def flags(name: str, field: FieldInfo) -> list[str]:
    """The command-line spellings of a field: `--its-name` (or the `flag` it declares, e.g. `--subgroup` for a
    repeatable `subgroups`), then older spellings declared as `aliases`."""
    extra = extra_of(field)
    return [extra.get("flag", flag_of(name)), *extra.get("aliases", [])]


def checked(check: Callable[[Any], Any], value: Any) -> Any:
    """Run a medprune check inside a pydantic validator (which reports ValueErrors with their location)."""
    if value is None:
        return value
    try:
        check(value)
    except MedpruneError as err:
        raise ValueError(str(err)) from None
    return value
