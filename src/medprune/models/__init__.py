"""Model zoo (registry + factory) and portable checkpoints that reload pruned widths safely."""

from medprune.models import mlp, monai_nets, segmentation_nets, smallcnn  # noqa: F401  (registers the architectures)
from medprune.models.checkpoint import Checkpoint, load_checkpoint, make_spec, save_checkpoint
from medprune.models.spec import ArchitectureSpec, CheckpointSpec
from medprune.models.imported import trust_factory
from medprune.models.registry import MODELS, ModelEntry, create_model, register_model

__all__ = ["MODELS", "ArchitectureSpec", "Checkpoint", "CheckpointSpec", "ModelEntry", "create_model",
           "load_checkpoint", "make_spec", "register_model", "save_checkpoint", "trust_factory"]
