"""Segmentation run directories: train, evaluate (per case and per structure) and, later, judge."""

from medprune.segmentation.run import check_segmentation_model, evaluate_segmentation, train_segmentation

__all__ = ["check_segmentation_model", "evaluate_segmentation", "train_segmentation"]
