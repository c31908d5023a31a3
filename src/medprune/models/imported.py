"""Networks brought in from outside the zoo: any MONAI network, the user's own factory, or a MONAI bundle.

A checkpoint records such a network by name (`monai:ResNet`, `factory:package.module:function`) and
keyword arguments, and rebuilds it by importing that name; weights are read with
`torch.load(weights_only=True)` or safetensors, so no pickled code ever runs.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medprune.errors import CheckpointError, ConfigError

MONAI_PREFIX, FACTORY_PREFIX = "monai:", "factory:"


def is_imported(name: str) -> bool:
    return name.startswith((MONAI_PREFIX, FACTORY_PREFIX))


def build_imported(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """Build `monai:NAME` (a class or function of monai.networks.nets) or `factory:module:function`."""
    if name.startswith(MONAI_PREFIX):
        module_name, attr = "monai.networks.nets", name[len(MONAI_PREFIX):]
    else:
        module_name, _, attr = name[len(FACTORY_PREFIX):].rpartition(":")
        if not module_name or not attr:
            raise ConfigError(f"factory '{name[len(FACTORY_PREFIX):]}' is not package.module:function: name the "
                              "function that builds your network, e.g. mypkg.nets:build_classifier")
    try:
        builder = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"cannot import {attr} from {module_name} ({type(err).__name__}: {err}): check the name, "
                          "and that the package is installed in this environment") from None
    try:
        net = builder(**kwargs)
    except Exception as err:  # the user's code: any failure means the same to them
        raise ConfigError(f"{module_name}.{attr}(**kwargs) failed ({type(err).__name__}: {str(err)[:120]}): check "
                          "--kwargs") from None
    if not isinstance(net, nn.Module):
        raise ConfigError(f"{module_name}.{attr} returned {type(net).__name__}, not a torch.nn.Module")
    return net


def load_weights(net: nn.Module, path: Path) -> nn.Module:
    """Load a state_dict from `.pt` (weights only) or `.safetensors` into `net`, strictly."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist: pass the file holding the state_dict")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unreadable, or pickled code that weights_only refuses
        raise CheckpointError(f"{path} cannot be read as weights ({type(err).__name__}: {str(err).splitlines()[0][:100]}"
                              "): save it with torch.save(model.state_dict(), path) or safetensors") from None
    for key in ("state_dict", "model", "network"):  # common wrappers around a state_dict
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state_dict: save it with torch.save(model.state_dict(), path)")
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise CheckpointError(f"{path}: the weights do not fit the network ({detail[:160]}): check --kwargs") from None
    return net.eval()


def read_bundle(folder: Path) -> tuple[str, dict[str, Any], Path]:
    """(name, kwargs, weights file) of a MONAI bundle's `network_def` in `configs/inference.json`."""
    from monai.bundle import ConfigParser

    folder = Path(folder)
    config_path = folder / "configs" / "inference.json"
    if not config_path.is_file():
        raise ConfigError(f"{folder} is not a MONAI bundle: it lacks configs/inference.json")
    parser = ConfigParser()
    try:
        parser.read_config(str(config_path))
        parser["bundle_root"] = str(folder)
        definition = parser.get("network_def")
        target = definition["_target_"]
        kwargs = {k: parser.get_parsed_content(f"network_def#{k}") for k in definition if not k.startswith("_")}
        json.dumps(kwargs)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
        raise ConfigError(f"{config_path}: cannot read network_def ({type(err).__name__}: {err}): it needs a "
                          "_target_ and plain keyword arguments") from None
    name = _name_for_target(target)
    weights = folder / "models" / "model.pt"
    if not weights.is_file():
        weights = folder / "models" / "model.safetensors"
    return name, kwargs, weights


def _name_for_target(target: str) -> str:
    """A bundle's `_target_` as a checkpoint name: MONAI's networks by class name, anything else as a factory."""
    short = target.rsplit(".", 1)[-1]
    try:
        getattr(importlib.import_module("monai.networks.nets"), short)
        if "." not in target or target.startswith("monai."):
            return MONAI_PREFIX + short
    except AttributeError:
        pass
    module_name, _, attr = target.rpartition(".")
    if not module_name:
        raise ConfigError(f"network_def _target_ '{target}' is neither a MONAI network nor module.Class")
    return f"{FACTORY_PREFIX}{module_name}:{attr}"
