"""Compare compression techniques on one model and data: recipes, runs, side-by-side measurements."""

from medprune.comparison.compare import compare
from medprune.comparison.recipe import Recipe, load_recipe

__all__ = ["Recipe", "compare", "load_recipe"]
