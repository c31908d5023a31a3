"""medprune: compress medical deep-learning models and prove they are still safe for patients."""

__version__ = "0.1.0"
