"""Segmentation run directories: train, evaluate (per case and per structure) and, later, judge."""

from medprune.segmentation.run import (check_segmentation_model, evaluate_segmentation, render_segmentation_summary,
                                       train_segmentation)
from medprune.segmentation.validate import (parse_segmentation_margins, save_segmentation_validation,
                                            validate_segmentation)

__all__ = ["check_segmentation_model", "evaluate_segmentation", "parse_segmentation_margins", "render_segmentation_summary",
           "save_segmentation_validation", "train_segmentation", "validate_segmentation"]
