"""Clinical metrics, calibration, efficiency figures and the `evaluate` verb."""

from medprune.evaluation.calibration import compute_brier, compute_ece
from medprune.evaluation.efficiency import Efficiency, measure_efficiency
from medprune.evaluation.evaluate import Evaluation, compute_classification_metrics, evaluate
from medprune.evaluation.metrics import (choose_threshold, compute_auprc, compute_auroc,
                                         compute_balanced_accuracy, compute_confusion_rates)
from medprune.evaluation.predict import predict_proba

__all__ = ["Efficiency", "Evaluation", "choose_threshold", "compute_auprc", "compute_auroc",
           "compute_balanced_accuracy", "compute_brier", "compute_classification_metrics",
           "compute_confusion_rates", "compute_ece", "evaluate", "measure_efficiency", "predict_proba"]
