"""What defines a pruning run, declared once: `medprune prune`'s options, a recipe's prune step and the Python
`medprune.prune` / `medprune.api.prune` keyword arguments are all read from `PruneSettings`."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator, model_validator

from medprune.training import augmentation
from medprune.errors import ConfigError
from medprune.evaluation.operating_point import check_operating_margin
from medprune.pruning.criterion import CRITERIA
from medprune.pruning.structured import check_round_to
from medprune.pruning.target import Schedule, Target
from medprune.pruning.unstructured import parse_pattern
from medprune.hardware.options import AcceleratorOptions
from medprune.schema import checked

# Fine-tuning settings shared with a recipe's budget (which every technique of a comparison gets): one
# declaration, so a range cannot differ between `medprune prune` and a recipe.
FINETUNE_LR = Field(default=5e-4, gt=0, lt=10, description="Fine-tuning learning rate.")
FINETUNE_BATCH_SIZE = Field(default=128, ge=2, description="Fine-tuning batch size.")
SEED = Field(default=0, description="Seed of calibration batches and fine-tuning.")
OPERATING_MARGIN = Field(
    default=0.05, gt=0, le=1,
    description="Fine-tuning keeps the best validation AUROC among epochs whose validation sensitivity and "
                "specificity at the dense model's threshold fall by at most this (1: AUROC alone).")
FINETUNE_EPOCHS = Field(
    default=None, ge=0,
    description="Fine-tuning epochs after the last step (default: at least 150 optimizer steps and 3 epochs, at most "
                "50, with early stopping on validation AUROC; 10 epochs for a segmentation network).")


class PruneChecks(BaseModel):
    """The checks of single pruning settings, shared by PruneSettings and a recipe's prune step (so a recipe's
    mistake is reported at its key)."""

    _criterion = field_validator("criterion", check_fields=False)(lambda v: checked(CRITERIA.get, v))
    _target = field_validator("target", check_fields=False)(lambda v: checked(Target.parse, v))
    _schedule = field_validator("schedule", check_fields=False)(lambda v: checked(Schedule.parse, v))
    _pattern = field_validator("pattern", check_fields=False)(lambda v: checked(parse_pattern, v))
    _round_to = field_validator("round_to", check_fields=False)(lambda v: checked(check_round_to, v))
    _margin = field_validator("operating_margin", check_fields=False)(lambda v: checked(check_operating_margin, v))

    @field_validator("scope", check_fields=False)
    @classmethod
    def _scope(cls, value: str) -> str:
        if value not in ("global", "layer"):
            raise ValueError(f"scope must be global or layer, got '{value}'")
        return value

    @field_validator("augment", check_fields=False)
    @classmethod
    def _augment(cls, value: str) -> str:
        if value not in augmentation.MODES:
            raise ValueError(f"augment must be one of {', '.join(augmentation.MODES)}, got '{value}'")
        return value


class PruneSettings(AcceleratorOptions, PruneChecks):
    """Everything that defines a pruning run (recorded in metrics.json)."""

    criterion: str = Field(default="taylor", description="Importance criterion (see `medprune list criteria`); "
                                                         "--method is the older spelling.",
                           json_schema_extra={"aliases": ["--method"]})
    target: str = Field(default="macs=0.5", description="macs= / params= / latency= (fraction of the dense model "
                                                        "kept: channels are removed) or sparsity= (fraction of "
                                                        "weights zeroed).")
    structured: bool | None = Field(
        default=None, description="Remove whole channels (faster on a CPU) or zero single weights (a smaller file "
                                  "only); default: channels for macs= / params= / latency=, weights for sparsity= "
                                  "or a --pattern.",
        json_schema_extra={"negative": "--unstructured"})
    schedule: str = Field(default="oneshot", description="oneshot, iterative:K[:linear|cubic] or until-tolerance.")
    scope: str = Field(default="global", description="global ranking, or the same ratio in every layer (layer).")
    max_layer_ratio: float | None = Field(
        default=None, gt=0, lt=1,
        description="No layer loses more than this share of its channels (default 0.9) or weights (default 0.98: "
                    "a cap at the target sparsity itself would force uniform pruning).")
    pattern: str | None = Field(default=None, description="N:M sparsity pattern such as 2:4 (weights zeroed).")
    round_to: int = Field(default=8, ge=1, description="Channels: kept channel counts are multiples of this (CPU "
                                                       "kernels vectorise by 8 or 16 floats; 1: no rounding).")
    calibration_batches: int = Field(default=4, ge=1, description="Training batches used by gradient criteria.")
    calibration_batch_size: int = Field(default=64, ge=1, description="Size of those batches (and of the "
                                                                      "BatchNorm ones).")
    bn_batches: int = Field(default=8, ge=0, description="Training batches that re-estimate BatchNorm statistics "
                                                         "after each step (adaptive BatchNorm; 0: off).")
    finetune_epochs: int | None = FINETUNE_EPOCHS
    step_epochs: int = Field(default=1, ge=0, description="Fine-tuning epochs after each earlier step.")
    lr: float = FINETUNE_LR
    batch_size: int = FINETUNE_BATCH_SIZE
    distill: bool = Field(default=False, description="Fine-tune with knowledge distillation from the dense model.")
    temperature: float = Field(default=4.0, gt=0, description="Distillation temperature.")
    distill_weight: float = Field(default=0.5, ge=0, le=1, description="Weight of the distillation loss (0..1).")
    augment: str = Field(default="auto", description="Fine-tuning augmentation of images (see `medprune train "
                                                     "--help`).")
    operating_margin: float = OPERATING_MARGIN
    tolerance: float = Field(default=0.01, gt=0, lt=1, description="until-tolerance: largest allowed drop in "
                                                                   "validation AUROC.")
    step_fraction: float = Field(default=0.2, gt=0, lt=1,
                                 description="until-tolerance: share of the remaining cost removed per step "
                                             "(--step is the older spelling).",
                                 json_schema_extra={"aliases": ["--step"]})
    seed: int = SEED

    @model_validator(mode="before")
    @classmethod
    def _granularity_from_target(cls, values):
        """No --structured / --unstructured: channels for a cost target, weights for sparsity= or a pattern."""
        if isinstance(values, dict) and values.get("structured") is None:
            try:
                kind = Target.parse(values.get("target", cls.model_fields["target"].default)).kind
            except ConfigError:
                return values  # the target's own check reports it
            values = {**values, "structured": kind != "sparsity" and not values.get("pattern")}
        return values

    @model_validator(mode="after")
    def _granularity_fits_target(self):
        kind = Target.parse(self.target).kind
        if self.structured and self.pattern:
            raise ValueError("an N:M pattern zeroes weights: drop --structured to use --pattern")
        if self.structured and kind == "sparsity":
            raise ValueError("structured pruning removes channels: give --target macs=, params= or latency=, or "
                             "drop --structured to zero individual weights")
        if self.structured is False and kind != "sparsity" and not self.pattern:
            raise ValueError(f"target {self.target} needs channels removed: weight masks do not reduce MACs or CPU "
                             "latency; use --target sparsity=... to zero weights")
        return self

    def check(self) -> tuple[Target, Schedule]:
        """The parsed target and schedule (every value was checked when the settings were made)."""
        return Target.parse(self.target), Schedule.parse(self.schedule)

    @property
    def layer_cap(self) -> float:
        if self.max_layer_ratio is not None:
            return self.max_layer_ratio
        return 0.9 if self.structured else 0.98

    @property
    def granularity(self) -> str:
        return "structured" if self.structured else ("n:m" if self.pattern else "unstructured")

