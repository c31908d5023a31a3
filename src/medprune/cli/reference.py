"""The command line as a Click command, for the generated CLI reference (docs/reference/cli.md)."""

import typer

from medprune.cli import app

command = typer.main.get_command(app)
