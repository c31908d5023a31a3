"""The checkpoint spec: what a saved model is, as a typed and versioned record.

Every model file medprune writes (model.pt, .onnx metadata, OpenVINO runtime info, TorchScript extra
file) carries this spec as JSON. Version 2 is read and written here; version 1 files (medprune before
0.2) are migrated on reading, so older runs keep loading.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from medprune import __version__
from medprune.errors import CheckpointError

FORMAT = "medprune-checkpoint"
FORMAT_VERSION = 2


class ArchitectureSpec(BaseModel):
    """How to build the network before its weights are loaded."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    input_shape: list[PositiveInt] = Field(min_length=1)
    n_classes: int = Field(ge=2)
    modality: Literal["image", "table"] = "image"


class CheckpointSpec(BaseModel):
    """The JSON half of a checkpoint. Sections a step adds (training, pruning, ...) stay None until then."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    format: Literal["medprune-checkpoint"] = FORMAT
    format_version: int = FORMAT_VERSION
    medprune_version: str = __version__
    model: ArchitectureSpec
    task: Literal["binary", "multiclass", "segmentation"] = "binary"
    class_names: list[str] = Field(default_factory=list)
    preprocessing: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict, description="the load_data options the model was trained with")
    data_md5: str = ""
    threshold: float | None = Field(None, description="operating point chosen on the validation split")
    inference: dict[str, Any] | None = Field(None, description=(
        "segmentation: sliding-window patch_size and overlap the model is run with"))
    training: dict[str, Any] | None = None
    imported: dict[str, Any] | None = None
    pruning: dict[str, Any] | None = None
    search: dict[str, Any] | None = None
    compression: list[dict[str, Any]] = Field(default_factory=list, description="recipe steps applied, in order")
    factorized: dict[str, Any] = Field(default_factory=dict, description="low-rank layers and their ranks")
    layers: dict[str, dict[str, int]] = Field(default_factory=dict, description="every layer's width, at save time")
    prune_progress: dict[str, Any] | None = Field(None, description="steps done, in a resumable pruning state")
    input_profile: dict[str, Any] | None = Field(None, description=(
        "summary of the training inputs (medprune.evaluation.input_profile): predict and evaluate flag cases "
        "unlike them"))

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or raw.get("format_version", FORMAT_VERSION) != 1:
            return raw
        raw = {k: v for k, v in raw.items() if k in cls.model_fields or k == "positive_class"}
        data = dict(raw.get("data") or {})
        if "target" in data:  # version 1 called the label column 'target'
            data.setdefault("label_column", data.pop("target"))
        if raw.get("positive_class"):  # and, briefly, kept the positive class at the top
            data.setdefault("positive_class", raw["positive_class"])
        raw.pop("positive_class", None)
        return {**raw, "data": data, "format_version": FORMAT_VERSION}

    @model_validator(mode="after")
    def _class_names_fit(self) -> CheckpointSpec:
        if not self.class_names:  # a model exported from Python without names: number its outputs
            self.__dict__["class_names"] = [str(i) for i in range(self.model.n_classes)]
        if len(self.class_names) != self.model.n_classes:
            raise ValueError(f"{len(self.class_names)} class_names for {self.model.n_classes} classes")
        return self

    @property
    def positive_class(self) -> str | None:
        """The disease class of a binary model (held at index 1); None for multi-class."""
        if len(self.class_names) != 2 or self.task == "segmentation":
            return None
        return self.data.get("positive_class") or self.class_names[1]

    def updated(self, **sections: Any) -> CheckpointSpec:
        """A copy with some sections replaced (validated), leaving this spec as it was."""
        return CheckpointSpec.model_validate({**self.to_dict(), **sections})

    def for_new_weights(self, **sections: Any) -> CheckpointSpec:
        """A copy for a model derived from this one: layer widths are re-measured at save time."""
        return self.updated(**({"layers": {}, "prune_progress": None, "input_profile": None} | sections))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def exported_json(self) -> str:
        """The JSON an exported graph carries: no layer widths (the graph has them built in)."""
        return self.updated(layers={}, prune_progress=None).to_json()

    @classmethod
    def read(cls, raw: Any, where: Path | str) -> CheckpointSpec:
        """Parse a spec (JSON text or a mapping) read from `where`; a damaged or newer one is a CheckpointError."""
        try:
            raw = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
        except ValueError:
            raise CheckpointError(f"{where} has a damaged spec (not JSON): save the model again") from None
        if not isinstance(raw, dict) or "model" not in raw:
            raise CheckpointError(f"{where} has a damaged spec (no model section): save the model again")
        if raw.get("format", FORMAT) != FORMAT or not isinstance(raw.get("format_version", 1), int) \
                or raw.get("format_version", 1) > FORMAT_VERSION:
            raise CheckpointError(f"{where} has format {raw.get('format')} v{raw.get('format_version')}: "
                                  f"this medprune reads {FORMAT} up to v{FORMAT_VERSION}; upgrade medprune")
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            place = ".".join(str(p) for p in first["loc"]) or "spec"
            raise CheckpointError(f"{where} has a damaged spec ({place}: {first['msg']}): save the model again") \
                from None
