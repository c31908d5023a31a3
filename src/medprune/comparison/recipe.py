"""Comparison recipes: a YAML file naming the data, the reference, the techniques and a shared budget.

Validated with pydantic; any wrong key or value becomes one line naming the file, the line and the
key path, e.g. `pneumonia.yaml line 14 (techniques[2].format): input should be 'onnx' or 'openvino'`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from medprune.compress import TECHNIQUES, Budget, check_chain
from medprune.schema import checked
from medprune.errors import ConfigError, MedpruneError
from medprune.data.options import DataOptions
from medprune.models.registry import MODELS
from medprune.validation.protocol import ProtocolOptions
from medprune.training import TrainConfig
from medprune.validation.paired_metrics import PAIRED_METRICS

Step = Annotated[Union[tuple(TECHNIQUES.get(n).Options for n in TECHNIQUES.names())],  # noqa: UP007
                 Field(discriminator="technique")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferenceTraining(_Strict):
    """How to train the reference: the model, and TrainConfig's own fields (one declaration with `medprune
    train`'s options: the same defaults and ranges)."""

    model: str | None = None  # default: resnet18 for classification data, unet for segmentation data
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    epochs: int | None = TrainConfig.model_fields["epochs"]  # None: the training step budget, early stopping
    lr: float = TrainConfig.model_fields["lr"]
    batch_size: int = TrainConfig.model_fields["batch_size"]
    seed: int = TrainConfig.model_fields["seed"]

    _known = field_validator("model")(lambda v: v if v is None else checked(MODELS.get, v))

    def model_for(self, task: str) -> str:
        return self.model or ("unet" if task == "segmentation" else "resnet18")


class Reference(_Strict):
    """An existing run directory (`path`), or how to train one (`train`), cached in the output folder."""

    path: str | None = None
    train: ReferenceTraining | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.path is None) == (self.train is None):
            raise ValueError("give the reference as path: RUN_DIR or as train: {model: ..., epochs: ...}")
        return self


class ValidationSettings(ProtocolOptions):
    """A recipe's validation protocol: ProtocolOptions (`medprune validate`'s settings, by the same names) and the
    margins and endpoints.

    `margins:` is spelt as `medprune validate --margins` and `medprune.validate_predictions(margins=)`: a number (the
    primary metric's margin) or a mapping by endpoint (sensitivity / specificity default 0.05). The older `margin:`
    (the primary margin) still reads for one release."""

    endpoints: list[str] | None = None  # default: metric, sensitivity and specificity
    margins: float | dict[str, float] = 0.01

    _known_endpoints = field_validator("endpoints")(
        lambda v: v if v is None else [checked(PAIRED_METRICS.get, e) for e in v])

    @model_validator(mode="before")
    @classmethod
    def _older_margin(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or "margin" not in raw:
            return raw
        import warnings

        raw = dict(raw)
        primary = raw.pop("margin")
        warnings.warn("a recipe's validation 'margin:' is now spelt 'margins:' (a number, or a mapping by endpoint), "
                      "as medprune validate --margins is", FutureWarning, stacklevel=2)
        by_endpoint = raw.get("margins")
        if isinstance(by_endpoint, dict):
            raw["margins"] = {raw.get("metric", "auroc"): primary, **by_endpoint}
        elif by_endpoint is None:
            raw["margins"] = primary
        return raw

    @field_validator("margins")
    @classmethod
    def _margins_in_range(cls, value: float | dict[str, float]) -> float | dict[str, float]:
        for name, margin in (value.items() if isinstance(value, dict) else [("the primary metric", value)]):
            if name in ("hd95", "hd95_mm") and margin > 0:  # a segmentation margin in mm (or px), not a rate
                continue
            if not 0 < margin < 1:
                raise ValueError(f"margin of {name} must be in (0, 1), got {margin:g}")
        return value

    def primary_and_by_endpoint(self) -> tuple[float, dict[str, float]]:
        """(the primary metric's margin, the other endpoints' margins)."""
        if not isinstance(self.margins, dict):
            return float(self.margins), {}
        by_endpoint = dict(self.margins)
        return by_endpoint.pop(self.metric, 0.01), by_endpoint


class MeasureSettings(_Strict):
    latency_repeats: int = Field(default=15, ge=3)


class Entry(_Strict):
    """One row of the comparison: a single technique, or a chain of them."""

    name: str | None = None
    chain: list[Step] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _single_step(cls, data: Any) -> Any:
        if isinstance(data, dict) and "technique" in data and "chain" not in data:
            step = {k: v for k, v in data.items() if k != "name"}
            return {"name": data.get("name"), "chain": [step]}
        return data

    @model_validator(mode="after")
    def _chain_order(self):
        try:
            check_chain(list(self.chain))
        except MedpruneError as err:
            raise ValueError(str(err)) from None
        if self.chain[0].technique == "distill" and self.chain[0].student is None:
            raise ValueError("distill on its own needs a student model (e.g. student: smallcnn); without one it "
                             "distils into the model before it in a chain")
        return self

    @property
    def label(self) -> str:
        return self.name or " -> ".join(step.technique for step in self.chain)


class DataSettings(DataOptions):
    """Data given with its reading options (DataOptions: the data options of `medprune train`, by the same names),
    for tables, folders and manifests; a bare string is a MedMNIST name or a file read with the defaults."""

    path: str


class Recipe(_Strict):
    data: DataSettings | str
    data_dir: str | None = None
    reference: Reference
    budget: Budget = Field(default_factory=Budget)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    measure: MeasureSettings = Field(default_factory=MeasureSettings)
    techniques: list[Entry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self):
        labels = [e.label for e in self.techniques]
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        if repeated:
            raise ValueError(f"technique names must be unique; repeated: {', '.join(repeated)} (add name: ...)")
        return self


def data_options(recipe: Recipe) -> tuple[str, dict[str, Any]]:
    """(data, keyword options of `load_data`) of a recipe."""
    if isinstance(recipe.data, str):
        return recipe.data, {}
    return recipe.data.path, recipe.data.load_kwargs()


def slug(label: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", label.replace("->", "to")).strip("-").lower() or "entry"


def _yaml_line(root: yaml.Node | None, path: list[str | int]) -> int | None:
    """1-based line of the deepest node along `path` in the composed YAML tree."""
    node, line = root, None
    for key in path:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
            if node is not None:
                line = node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            node = None
    return line


def _file_path(loc: tuple, raw: Any) -> list[str | int]:
    """The pydantic error location as a path in the file: drop union tags and the implicit one-step chain."""
    path: list[str | int] = []
    node = raw
    for i, key in enumerate(loc):
        if isinstance(key, str) and key in TECHNIQUES and path and isinstance(path[-1], int) and \
                len(path) >= 2 and path[-2] == "chain":
            continue  # the discriminator tag pydantic inserts
        if key == "chain" and isinstance(node, dict) and "chain" not in node:
            # a single-step entry: its options sit on the entry itself (skip "chain", 0)
            loc_rest = loc[i + 2:]
            return path + _file_path(tuple(k for k in loc_rest if not (isinstance(k, str) and k in TECHNIQUES)), node)
        path.append(key)
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            node = None
    return path


def _show(path: list[str | int]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def _message(error: dict) -> str:
    if error["type"] == "union_tag_invalid":
        tag = error["ctx"]["tag"]
        try:
            TECHNIQUES.get(tag)
        except MedpruneError as err:
            return str(err)
    if error["type"] == "union_tag_not_found":
        return f"each step needs 'technique:' (one of {', '.join(TECHNIQUES.names())})"
    if error["type"] == "extra_forbidden":
        return "unknown key: check its spelling (`medprune list techniques` lists each technique's options)"
    if error["type"] == "missing":
        return "required key missing"
    return error["msg"].removeprefix("Value error, ").replace("\n", " ")


# A recipe is a page of settings; aliases that expand past this many values are a "billion laughs" document,
# which would take minutes to check and validate.
MAX_EXPANDED_VALUES = 100_000


def _expanded_size(node: yaml.Node | None, memo: dict[int, int]) -> int:
    """How many values the document holds once its aliases are expanded, counted in time linear in its nodes."""
    if node is None:
        return 0
    if id(node) not in memo:
        memo[id(node)] = 0  # a node that contains itself (a recursive alias) counts once
        children = ([item for pair in node.value for item in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        memo[id(node)] = min(1 + sum(_expanded_size(child, memo) for child in children), 10 * MAX_EXPANDED_VALUES)
    return memo[id(node)]


def _refuse_duplicate_keys(path: Path, node: yaml.Node | None, seen_nodes: set[int] | None = None) -> None:
    """YAML lets a repeated key silently replace the first (e.g. a second `validation:` changing the
    pre-specified margin); a recipe refuses it. Each node is checked once, however often aliases repeat it."""
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if node is None or id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                raise ConfigError(f"{path} line {key.start_mark.line + 1}: the key '{name}' appears again (first on "
                                  f"line {seen[name]}): a recipe names each key once")
            seen[name] = key.start_mark.line + 1
            _refuse_duplicate_keys(path, value, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(path, item, seen_nodes)


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe.

    Raises:
        ConfigError: unreadable YAML, or the first invalid key with its line and key path.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe {path} does not exist: pass the path of a YAML recipe such as "
                          "examples/pneumonia.yaml")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[:err.start].count(b"\n") + 1
        raise ConfigError(f"{path} line {line}: not UTF-8 text (byte {err.object[err.start]:#04x}): save the recipe "
                          "as UTF-8") from None
    try:
        root = yaml.compose(text)
        if _expanded_size(root, {}) > MAX_EXPANDED_VALUES:
            raise ConfigError(f"{path}: its aliases expand to more than {MAX_EXPANDED_VALUES:,} values: a recipe is a "
                              "page of settings; write it without nested aliases")
        _refuse_duplicate_keys(path, root)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', None) or err}): fix the "
                          "syntax (indentation, colons, quotes)") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a recipe is a mapping with data, reference and techniques keys")
    try:
        return Recipe.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = _file_path(first["loc"], raw)
        line = _yaml_line(root, where)
        at = f" line {line}" if line else ""
        raise ConfigError(f"{path}{at} ({_show(where) or 'top level'}): {_message(first)}") from None
