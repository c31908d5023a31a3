"""The `medprune` command line: a thin layer over `medprune.api`, one module per command."""

from medprune.cli.app import app, main
from medprune.cli import (compare, data, demo, evaluate, export, import_model, listing, predict, prune,  # noqa: E402,F401
                          search, train, validate)  # (registers the commands)

__all__ = ["app", "main"]
