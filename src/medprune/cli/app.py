"""The Typer application and the one place where user errors become one line and exit code 2."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from medprune.errors import MedpruneError
from medprune.hardware.distributed import launched_rank
from medprune.outputs import OutputKind, claim_outputs, describe_os_error

app = typer.Typer(name="medprune", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Compress medical deep-learning models and prove they are still safe for patients.")
console = Console()
err_console = Console(stderr=True)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


@app.callback()
def _options(trust_factory: Annotated[Optional[list[str]], typer.Option(
        "--trust-factory", help="package.module:function: allow models that name this builder of yours to be "
                                "rebuilt by calling it (a model file never chooses code to run). Repeatable.")] = None,
             ) -> None:
    """Compress medical deep-learning models and prove they are still safe for patients."""
    from medprune import api

    try:
        api.set_trusted_factories(trust_factory or [])
    except MedpruneError as err:
        _fail(str(err))


data_app = typer.Typer(no_args_is_help=True, help="Audit a dataset (duplicates, leakage) or prune its training split.")
app.add_typer(data_app, name="data")


def _fail(message: str) -> None:
    # escape: messages hold user text and brackets (e.g. medprune[ray]) that are not markup
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2) from None


def command(name: str | None = None, parent: typer.Typer | None = None,
            outputs: dict[str, OutputKind] | None = None) -> Callable:
    """Register a CLI command whose MedpruneError becomes `error: ...` on stderr and exit code 2.

    `outputs` names the options that are output paths ("dir" or "file"): they are checked before any
    work and locked for the run, so a second run into the same place stops at once.
    """

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            warnings.showwarning = _one_line_warning
            if launched_rank() != 0:  # under torchrun the process of rank 0 claims and writes the outputs
                return _quietly(fn, *args, **kwargs)
            claimed = {Path(kwargs[k]): kind for k, kind in (outputs or {}).items() if kwargs.get(k) is not None}
            inputs = _input_paths({k: v for k, v in kwargs.items() if k not in (outputs or {})})
            created = [path for path, kind in claimed.items() if kind == "dir" and not path.exists()]
            try:
                with claim_outputs(claimed, inputs, forced=bool(kwargs.get("overwrite"))):
                    return fn(*args, **kwargs)
            except MedpruneError as err:
                if os.environ.get("MEDPRUNE_DEBUG"):
                    raise
                _remove_if_empty(created)
                _fail(str(err))
            except OSError as err:  # a full disk or a path that became unwritable while results were written
                if os.environ.get("MEDPRUNE_DEBUG"):
                    raise
                _remove_if_empty(created)
                _fail(describe_os_error(err))
            except KeyboardInterrupt:
                err_console.print("interrupted: work finished so far is saved; run again with --resume to continue")
                raise typer.Exit(130) from None

        return (parent or app).command(name)(run)

    return wrap


def _quietly(fn: Callable, *args, **kwargs):
    """A command run by a process other than torchrun's rank 0: it trains alongside, prints nothing and exits 0;
    rank 0 reports errors (each process meets the same ones) and results."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return fn(*args, **kwargs)
    except MedpruneError as err:
        raise typer.Exit(2) from err


def _remove_if_empty(folders: list[Path]) -> None:
    """A failed run leaves no empty output folder it created (one holding anything, such as resume state, stays)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass


def _input_paths(options: dict) -> list[Path]:
    """The existing files and folders among a command's option values: what it reads."""
    values = [v for value in options.values() for v in (value if isinstance(value, (list, tuple)) else [value])]
    paths = [Path(v) for v in values if isinstance(v, (str, Path)) and str(v)]
    return [p for p in paths if p.exists()]


def main() -> None:
    """Console entry point: Click's own usage errors (an unknown option, a value of the wrong type) become one
    `error:` line and exit code 2, like ours, instead of a boxed panel."""
    try:  # Typer 0.29 parses with its own copy of Click, whose exceptions are its own
        from typer._click import exceptions
    except ImportError:
        from click import exceptions

    try:
        code = app(standalone_mode=False)
    except exceptions.NoArgsIsHelpError as err:  # `medprune` or `medprune data` alone: the help
        console.print(err.format_message(), highlight=False, markup=False)
        sys.exit(2)  # as Click itself exits
    except exceptions.UsageError as err:
        where = f": see '{err.ctx.command_path} --help'" if err.ctx is not None else ""
        err_console.print(f"[red]error:[/] {escape(err.format_message().rstrip('.'))}{escape(where)}",
                          highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:  # Ctrl-C while Click was parsing or prompting
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
