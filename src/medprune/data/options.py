"""How a dataset is read, declared once: the data options of `medprune train`, `data audit` and `data prune`, a
recipe's `data:` mapping, and the keyword arguments of `load_data` all come from `DataOptions`."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator

from medprune.data.images import parse_window
from medprune.errors import MedpruneError
from medprune.schema import Settings


class DataOptions(Settings):
    """Reading options of a dataset (tables, folders, manifests, your own .npz); MedMNIST needs none."""

    # `target:` is the label column's older spelling, read for one release (target now means a compression budget)
    label_column: str | None = Field(default=None, validation_alias=AliasChoices("label_column", "target"),
                                     description="Label column of a CSV table or manifest.")
    positive_class: str | None = Field(default=None, description=(
        "The disease class of a binary task, which sensitivity and every binary metric are about (default: the "
        "dataset's disease class, or a label 1 / yes / true)."))
    subgroups: list[str] | None = Field(default=None, description=(
        "CSV column (or dicom:Field) kept aside as subgroup metadata for audits (repeatable)."),
        json_schema_extra={"flag": "--subgroup"})
    subgroups_as_input: bool = Field(default=False, description="Also feed the subgroup columns to the model.",
                                     json_schema_extra={"flag": "--subgroup-as-input"})
    allow_columns: list[str] | None = Field(default=None, description=(
        "Feed this table column to the model although it looks like an identifier (its name, or values unique per "
        "row). Repeatable."), json_schema_extra={"flag": "--allow-column"})
    missing: str = Field(default="error", description="Missing values in a table: 'error' or 'impute'.")
    # a recipe's data: also reads `seed:`, its older name; load_data and the run record call it seed
    split_seed: int = Field(default=0, validation_alias=AliasChoices("split_seed", "seed"), description=(
        "Seed of the stratified split (tables 60/20/20, folders and manifests 70/10/20)."))
    val_fraction: float | None = Field(default=None, gt=0, lt=1, description=(
        "Carve a stratified validation split of this fraction out of train and val pooled (when the file's own "
        "validation split is too small to choose a threshold)."))
    classes: list[str] | None = Field(default=None, description=(
        "Names of the classes of your own .npz by index, comma-separated (e.g. normal,pneumonia); classes without "
        "training cases are then allowed."), json_schema_extra={"cli_type": "text"})
    image_size: int | None = Field(default=None, ge=8, le=1024, description=(
        "Side in px images are resized to (default: their own size, which must then be one square size)."))
    volume_size: int | None = Field(default=None, ge=8, le=1024, description=(
        "Side in voxels NIfTI volumes are resampled to (default: their own size, which must then be one cubic "
        "size)."))
    channels: int | None = Field(default=None, description="1 (grey) or 3 (RGB) for images (default 1).")
    image_column: str | None = Field(default=None, description=(
        "A CSV manifest's column of image paths (relative to the CSV); --label-column names the label column."))
    mask_column: str | None = Field(default=None, description=(
        "A manifest's column of mask paths (PNG or NIfTI, relative to the CSV): the task is segmentation. A Decathlon "
        "folder or dataset.json needs none."))
    external_test: str | None = Field(default=None, description=(
        "COLUMN=VALUE: the manifest rows with that value (e.g. site=montgomery) are the test split, an external "
        "test; the rest is split into train and validation (by patient with --group-column)."))
    split_column: str | None = Field(default=None, description="Manifest column with train / val / test.")
    group_column: str | None = Field(default=None, description=(
        "Manifest column with the patient id (classification or segmentation): splits are made by patient, never "
        "across."))
    allow_group_overlap: bool = Field(default=False, description="Accept given splits that put a patient in two "
                                                                 "splits.")
    window: tuple[float, float] | None = Field(default=None, description=(
        "Intensity window center,width applied after the DICOM rescale (e.g. 40,400 for CT soft tissue); default: "
        "the file's own VOI LUT / window, else its full range."), json_schema_extra={"cli_type": "text"})
    skip_unreadable: bool = Field(default=False, description=(
        "Leave out (and list) image files that cannot be decoded instead of stopping."))
    cache: str | None = Field(default=None, description=(
        "Folder keeping decoded, resized images (keyed by file content and reading settings), so later epochs and "
        "verbs skip decoding."))
    workers: int = Field(default=0, ge=0, description="Processes reading image files while training (0: the main "
                                                      "process).")

    @field_validator("missing")
    @classmethod
    def _missing(cls, value: str) -> str:
        if value not in ("error", "impute"):
            raise ValueError(f"missing must be error or impute, got '{value}'")
        return value

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: int | None) -> int | None:
        if value not in (None, 1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {value}")
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, value: Any) -> Any:
        return [c.strip() for c in value.split(",")] if isinstance(value, str) else value

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse_window(value)
        except MedpruneError as err:
            raise ValueError(str(err)) from None

    @field_validator("external_test")
    @classmethod
    def _external(cls, value: str | None) -> str | None:
        if value is not None and (value.count("=") != 1 or not all(value.split("="))):
            raise ValueError(f"external_test must be COLUMN=VALUE (e.g. site=montgomery), got '{value}'")
        return value

    @model_validator(mode="after")
    def _one_size(self):
        if self.image_size is not None and self.volume_size is not None:
            raise ValueError("give --image-size for 2D images or --volume-size for volumes, not both")
        return self

    def load_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `load_data` (a volume's side is its image size), defaults left out."""
        own = set(DataOptions.model_fields) - {"volume_size"}  # a subclass's own fields (a recipe's path) stay out
        values = self.model_dump(include=own, exclude_defaults=True)
        if self.volume_size is not None:
            values["image_size"] = self.volume_size
        if "split_seed" in values:
            values["seed"] = values.pop("split_seed")
        return values
