"""The reports' Jinja templates, rendered by one strict environment.

Strict: a field a template prints or loops over that the record lacks stops the render with an error naming it,
where Jinja's default prints nothing (a comparison page said "with margin  (" after the key was renamed). Testing
an optional field (`{% if c.robustness %}`) still reads a missing one as absent.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any


@cache
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    class MissingIsFalse(StrictUndefined):
        def __bool__(self) -> bool:
            return False

    return Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), undefined=MissingIsFalse,
                       autoescape=select_autoescape(["html", "j2"]))


def render_template(name: str, **context: Any) -> str:
    """Render templates/`name` with `context`."""
    return _environment().get_template(name).render(**context)
