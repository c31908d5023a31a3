"""Networks brought in from outside the zoo: any MONAI network, the user's own factory, or a MONAI bundle.

A checkpoint records such a network by name (`monai:ResNet`, `factory:package.module:function`) and
keyword arguments; weights are read with `torch.load(weights_only=True)` or safetensors, so no pickled code
ever runs. A file never chooses code to run: a `monai:` name must be a network of `monai.networks.nets`, and
a `factory:` name is built only when the user names that factory again at load time (`trust_factory`, the
CLI's `--trust-factory`); a bundle's `$` expressions are evaluated only with `trust_code=True`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medprune.errors import CheckpointError, ConfigError

MONAI_PREFIX, FACTORY_PREFIX = "monai:", "factory:"
_trusted_factories: set[str] = set()  # `package.module:function` names the user passed at load time


def is_imported(name: str) -> bool:
    return name.startswith((MONAI_PREFIX, FACTORY_PREFIX))


def _split_factory(factory: str) -> tuple[str, str]:
    module_name, _, attr = factory.rpartition(":")
    if not module_name or not attr or not all(part.isidentifier() for part in (*module_name.split("."), attr)):
        raise ConfigError(f"factory '{factory}' is not package.module:function: name the function that builds your "
                          "network, e.g. mypkg.nets:build_classifier")
    return module_name, attr


def set_trusted_factories(factories: list[str]) -> None:
    """Exactly these factories are trusted from now on (the CLI's `--trust-factory`, per invocation)."""
    for factory in factories:
        _split_factory(factory)
    _trusted_factories.clear()
    _trusted_factories.update(factories)


def trust_factory(factory: str) -> None:
    """Allow checkpoints that name `package.module:function` to be rebuilt by calling it (the user's own word,
    never the file's)."""
    _split_factory(factory)
    _trusted_factories.add(factory)


def _monai_network(attr: str) -> Any:
    """A network class or builder function of monai.networks.nets, and nothing else that module holds."""
    nets = importlib.import_module("monai.networks.nets")
    found = getattr(nets, attr, None) if attr.isidentifier() and not attr.startswith("_") else None
    is_network = isinstance(found, type) and issubclass(found, nn.Module)
    is_builder = (inspect.isfunction(found) and found.__module__.startswith("monai.networks.nets")
                  and not attr.startswith("get_"))
    if not (is_network or is_builder):
        close = difflib.get_close_matches(attr, [n for n in dir(nets) if not n.startswith("_")], n=1)
        hint = f"did you mean '{close[0]}'?" if close else "name a network class such as DenseNet121 or a builder " \
                                                           "such as resnet18"
        raise ConfigError(f"'{attr}' is not a network of monai.networks.nets: {hint}")
    return found


def check_buildable(name: str) -> None:
    """Refuse, before anything is imported or called, a name that the user has not allowed to run."""
    if name.startswith(MONAI_PREFIX):
        _monai_network(name[len(MONAI_PREFIX):])
    elif name.startswith(FACTORY_PREFIX) and name[len(FACTORY_PREFIX):] not in _trusted_factories:
        factory = name[len(FACTORY_PREFIX):]
        raise CheckpointError(f"the model names the factory '{factory}', which is not in medprune's zoo, and a model "
                              "file never chooses code to run: if you trust that function, name it yourself with "
                              f"`medprune --trust-factory {factory} COMMAND ...` (Python: "
                              f"medprune.models.trust_factory('{factory}'))")


def build_imported(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """Build `monai:NAME` (a class or function of monai.networks.nets) or a trusted `factory:module:function`."""
    if name.startswith(MONAI_PREFIX):
        module_name, attr = "monai.networks.nets", name[len(MONAI_PREFIX):]
        builder = _monai_network(attr)
    else:
        check_buildable(name)
        module_name, attr = _split_factory(name[len(FACTORY_PREFIX):])
        try:
            builder = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ConfigError(f"cannot import {attr} from {module_name} ({type(err).__name__}: {err}): check the "
                              "name, and that the package is installed in this environment") from None
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


def read_bundle(folder: Path, *, trust_code: bool = False) -> tuple[str, dict[str, Any], Path]:
    """(name, kwargs, weights file) of a MONAI bundle's `network_def` in `configs/inference.json`.

    Read as data: `@name` references are looked up in the same file; an expression (`$...`) or a macro (`%...`)
    is refused unless `trust_code`, which hands the file to MONAI's ConfigParser to evaluate (it runs Python).
    """
    folder = Path(folder)
    config_path = folder / "configs" / "inference.json"
    if not config_path.is_file():
        raise ConfigError(f"{folder} is not a MONAI bundle: it lacks configs/inference.json")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        definition = config["network_def"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ConfigError(f"{config_path}: cannot read network_def ({type(err).__name__}: {err}): it needs a JSON "
                          "object with a network_def entry") from None
    if trust_code:
        definition, kwargs = _evaluated_network_def(folder, config_path)
    else:
        definition = _resolve(definition, config, config_path, depth=0)
        if not isinstance(definition, dict) or not isinstance(definition.get("_target_"), str):
            raise ConfigError(f"{config_path}: network_def needs a _target_ naming the network")
        kwargs = {k: v for k, v in definition.items() if not k.startswith("_")}
    name = _name_for_target(definition["_target_"])
    if name.startswith(FACTORY_PREFIX):
        if not trust_code:
            raise ConfigError(f"{config_path}: network_def builds '{definition['_target_']}', which is not a MONAI "
                              "network: the bundle would choose code to run; pass --trust-bundle-code if you trust it")
        trust_factory(name[len(FACTORY_PREFIX):])
    weights = folder / "models" / "model.pt"
    if not weights.is_file():
        weights = folder / "models" / "model.safetensors"
    return name, kwargs, weights


def bundle_input_range(folder: Path) -> str | None:
    """The input range a bundle's inference preprocessing scales 8-bit images to, when it says so with a plain
    intensity transform: ScaleIntensityRange(d) from 0-255 to b_min-b_max, or ScaleIntensity(d) to minv-maxv (a
    per-image min-max scaling, read as that range). None when the bundle says nothing medprune can read as data."""
    try:
        config = json.loads((Path(folder) / "configs" / "inference.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    steps = []
    for key in ("preprocessing", "transforms"):
        block = config.get(key)
        if isinstance(block, dict):
            block = block.get("transforms", [])
        if isinstance(block, list):
            steps += [step for step in block if isinstance(step, dict) and isinstance(step.get("_target_"), str)]
    for step in steps:
        target = step["_target_"].rsplit(".", 1)[-1]
        numbers = {k: v for k, v in step.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if target in ("ScaleIntensityRanged", "ScaleIntensityRange") and \
                numbers.get("a_min") == 0 and numbers.get("a_max") == 255 and {"b_min", "b_max"} <= set(numbers):
            return f"{numbers['b_min']:g},{numbers['b_max']:g}"
        if target in ("ScaleIntensityd", "ScaleIntensity") and {"minv", "maxv"} <= set(numbers):
            return f"{numbers['minv']:g},{numbers['maxv']:g}"
    return None


def _resolve(value: Any, config: dict, config_path: Path, depth: int) -> Any:
    """network_def with its `@name` references replaced by the items they name; expressions refused."""
    if depth > 20:
        raise ConfigError(f"{config_path}: network_def's references nest more than 20 deep (a cycle?)")
    if isinstance(value, dict):
        return {k: _resolve(v, config, config_path, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, config, config_path, depth + 1) for v in value]
    if isinstance(value, str) and value.startswith(("$", "%")):
        raise ConfigError(f"{config_path}: network_def holds the expression {value[:60]!r}, which only runs as Python; "
                          "medprune does not evaluate a bundle's code unless you pass --trust-bundle-code")
    if isinstance(value, str) and value.startswith("@"):
        key = value[1:].split("#")
        target: Any = config
        for part in key:
            if isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            elif isinstance(target, dict) and part in target:
                target = target[part]
            else:
                raise ConfigError(f"{config_path}: network_def refers to {value!r}, which the file does not hold")
        return _resolve(target, config, config_path, depth + 1)
    return value


def _evaluated_network_def(folder: Path, config_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """network_def evaluated by MONAI's ConfigParser: the bundle's expressions run (the user said so)."""
    import warnings

    from monai.bundle import ConfigParser

    warnings.warn(f"evaluating the Python expressions of {config_path} (--trust-bundle-code)", stacklevel=3)
    parser = ConfigParser()
    try:
        parser.read_config(str(config_path))
        parser["bundle_root"] = str(folder)
        definition = dict(parser.get("network_def"))
        kwargs = {k: parser.get_parsed_content(f"network_def#{k}") for k in definition if not k.startswith("_")}
        json.dumps(kwargs)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
        raise ConfigError(f"{config_path}: cannot read network_def ({type(err).__name__}: {err}): it needs a "
                          "_target_ and plain keyword arguments") from None
    return definition, kwargs


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
