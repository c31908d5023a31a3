"""The model registry and its factory, `create_model(name, input_shape=..., n_classes=...)`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from medprune.errors import ConfigError
from medprune.models.imported import build_imported, is_imported
from medprune.registry import Registry


@dataclass(frozen=True)
class ModelEntry:
    """How to build one architecture, and what inputs it accepts."""

    build: Callable[..., nn.Module]  # build(input_shape, n_classes, **kwargs)
    modality: Literal["image", "table"]
    description: str
    min_size: int = 1  # smallest image side the architecture can process
    task: Literal["classification", "segmentation"] = "classification"


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(name: str, *, modality: Literal["image", "table"], description: str,
                   min_size: int = 1, task: Literal["classification", "segmentation"] = "classification") -> Callable:
    """Decorator registering `build(input_shape, n_classes, **kwargs) -> nn.Module` under `name`, so every
    verb, recipe and checkpoint can build it (import the module that registers it before loading)."""
    def add(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS.register(name)(ModelEntry(build, modality, description, min_size, task))
        return build

    return add


def check_model_fits(name: str, input_shape: tuple[int, ...], modality: str, task: str | None = None) -> ModelEntry:
    """Raise a one-line error when the architecture cannot take this data (or, given, this task)."""
    entry = MODELS.get(name)
    if task is not None and (task == "segmentation") != (entry.task == "segmentation"):
        hint = "unet, basicunet, segresnet, dynunet or attentionunet" if task == "segmentation" else \
            "smallcnn, resnet18 or another classifier (medprune models)"
        raise ConfigError(f"model '{name}' is a {entry.task} network but the data are for {task}: use {hint}")
    if entry.modality != modality:
        hint = "use mlp for tables" if modality == "table" else "use smallcnn or resnet18 for images"
        raise ConfigError(f"model '{name}' is for {entry.modality} data but the data are {modality}: {hint}")
    if modality == "image" and min(input_shape[1:]) < entry.min_size:
        raise ConfigError(
            f"model '{name}' needs images of at least {entry.min_size} px, got "
            f"{min(input_shape[1:])} px: load a larger MedMNIST size (e.g. pneumoniamnist@64) "
            "or choose smallcnn / resnet18"
        )
    return entry


def create_model(name: str, *, input_shape: tuple[int, ...], n_classes: int, modality: str = "image",
                 task: str | None = None, **kwargs: Any) -> nn.Module:
    """Build a freshly initialised model of a registered architecture.

    Raises:
        UnknownNameError: the name is not registered (with a did-you-mean hint).
        ConfigError: the architecture cannot take inputs of this shape or modality.
    """
    if is_imported(name):  # monai:NAME or factory:module:function, rebuilt from its recorded arguments
        return build_imported(name, kwargs)
    entry = check_model_fits(name, tuple(input_shape), modality, task)
    return entry.build(tuple(input_shape), n_classes, **kwargs)
