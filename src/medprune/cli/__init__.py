"""The `medprune` command line: a thin layer over `medprune.api`, one module per command."""

from medprune.cli.app import app, main
from medprune.cli import compare, data, demo, evaluate, export, listing, prune, search, train, validate  # noqa: E402,F401  (registers the commands)

__all__ = ["app", "main"]
