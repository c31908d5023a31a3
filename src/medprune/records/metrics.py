"""metrics.json of a classification model: the test metrics, and the data and model they describe; a trained,
imported or pruned run adds its own section."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medprune.records.base import GivenKeysRecord, Section

if TYPE_CHECKING:
    from medprune.records.segmentation_metrics import SegmentationMetrics


class TrainingOutcome(Section):
    """What training did (TrainResult): the best validation score and why it stopped."""

    best_epoch: int
    epochs_run: int
    wall_time_s: float
    stopped: str = ""
    history: list[dict[str, Any]] = []
    best_val_auroc: float | None = None  # classification
    best_val_dice: float | None = None  # segmentation

    @property
    def best_said(self) -> str:
        return (f"Dice {self.best_val_dice:.4f}" if self.best_val_dice is not None
                else f"AUROC {self.best_val_auroc:.4f}")


class Training(Section):
    config: dict[str, Any]
    result: TrainingOutcome


class Pruning(Section):
    """How a model was pruned and what it reached against its dense model."""

    criterion: str = ""  # empty for a model pruned in Python and saved (PruneResult.save)
    granularity: str = ""
    target: str = ""
    schedule: str = ""
    achieved: dict[str, Any]
    steps: list[dict[str, Any]] = []
    wall_time_s: float = 0.0
    note: str | None = None


class ClassificationFigures(GivenKeysRecord):
    """One classifier's figures on one split (evaluation.Evaluation)."""

    split: str
    task: str
    n: int
    auroc: float
    auprc: float
    accuracy: float
    balanced_accuracy: float
    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    threshold: float | None
    threshold_method: str
    ece: float
    brier: float
    class_names: list[str]
    per_class: list[dict[str, Any]] = []
    confusion: dict[str, int] = {}
    efficiency: dict[str, Any] | None = None
    positive_class: str | None = None


class ClassificationMetrics(ClassificationFigures):
    data: dict[str, Any]
    model: dict[str, Any]
    input_check: dict[str, Any] | None = None
    training: Training | None = None
    imported: dict[str, Any] | None = None
    pruning: Pruning | None = None
    reference: ClassificationFigures | None = None  # a pruned model's record holds its dense model's figures


def read_metrics(record: dict[str, Any]) -> ClassificationMetrics | SegmentationMetrics:
    """The typed record of a metrics.json of either task."""
    from medprune.records.segmentation_metrics import SegmentationMetrics

    if record.get("task") == "segmentation":
        return SegmentationMetrics.model_validate(record)
    return ClassificationMetrics.model_validate(record)

