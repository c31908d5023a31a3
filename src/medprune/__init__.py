"""medprune: compress medical deep-learning models and prove they are still safe for patients.

The public Python API is re-exported here lazily, so `import medprune` stays light:

    report = medprune.validate_predictions(y_test, p_reference, {"pruned": p_pruned}, threshold=t,
                                           margins=0.01, positive_class="pneumonia",
                                           class_names=["normal", "pneumonia"])
    report.save("runs/validation")
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what editors and type checkers resolve; at run time each name loads when first used
    from medprune.evaluation.evaluate import evaluate_predictions
    from medprune.evaluation.metrics import choose_threshold
    from medprune.deploy.export import export_onnx
    from medprune.models.registry import register_model
    from medprune.pruning.any_model import PruneResult, prune
    from medprune.pruning.settings import PruneSettings
    from medprune.training import finetune
    from medprune.validation.given_predictions import validate_predictions
    from medprune.validation.robustness import judge_robustness
    from medprune.validation.validate import ValidationReport

_EXPORTS = {
    "prune": "medprune.pruning.any_model",
    "PruneResult": "medprune.pruning.any_model",
    "PruneSettings": "medprune.pruning.settings",
    "finetune": "medprune.training",
    "register_model": "medprune.models.registry",
    "export_onnx": "medprune.deploy.export",
    "evaluate_predictions": "medprune.evaluation.evaluate",
    "choose_threshold": "medprune.evaluation.metrics",
    "validate_predictions": "medprune.validation.given_predictions",
    "ValidationReport": "medprune.validation.validate",
    "judge_robustness": "medprune.validation.robustness",
}
__all__ = ["__version__", "prune", "PruneResult", "PruneSettings", "finetune", "register_model", "export_onnx",
           "evaluate_predictions", "choose_threshold", "validate_predictions", "ValidationReport", "judge_robustness"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'medprune' has no attribute '{name}'")
