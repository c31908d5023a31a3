"""Training: the train / fine-tune loop (model selection on validation, distillation, resume), how long to train
(budget), augmentation per modality, and re-estimating BatchNorm statistics."""

from medprune.training.loop import (AUGMENTATIONS, CLASS_WEIGHTING, IMBALANCE_RATIO, Distillation, Plan, TrainConfig,
                                    TrainResult, average_decay, finetune, fit, plan)

__all__ = ["AUGMENTATIONS", "CLASS_WEIGHTING", "IMBALANCE_RATIO", "Distillation", "Plan", "TrainConfig",
           "TrainResult", "average_decay", "finetune", "fit", "plan"]
