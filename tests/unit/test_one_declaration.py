"""One declaration per option: the CLI, a recipe and Python read every pruning setting from PruneSettings, so
its name, default, range and help cannot differ between doors."""

import inspect

import pytest
import torch
import typer
from typer.testing import CliRunner
from torch import nn

import medprune
from medprune.cli.app import app
from medprune.cli.schema_options import help_of
import medprune.data.load
from medprune.comparison.recipe import DataSettings, Recipe, ReferenceTraining, ValidationSettings
from medprune.compress.prune import FROM_BUDGET, PruneOptions
from medprune.compress.technique import Budget
from medprune.compress.quantize import Quantize
from medprune.data import DataOptions
from medprune.deploy.export import FORMATS, ExportSettings
from medprune.errors import ConfigError
from medprune.hardware.options import AcceleratorOptions
from medprune.pruning import PruneSettings
from medprune.search import RunOptions, SearchConfig
from medprune.schema import extra_of, flags
from medprune.training import TrainConfig
from medprune.validation.protocol import ProtocolOptions

FIELDS = PruneSettings.model_fields
PRUNE_COMMAND = {param.name: param for param in typer.main.get_command(app).commands["prune"].params}


@pytest.mark.parametrize("name", list(FIELDS))
def test_the_prune_command_takes_each_setting_as_declared(name):
    field, param = FIELDS[name], PRUNE_COMMAND[name]
    assert set(flags(name, field)) <= set(param.opts)
    assert param.default == field.default
    assert param.help == help_of(field) and field.description


@pytest.mark.parametrize("name", list(FIELDS))
def test_a_recipe_takes_each_setting_as_declared(name):
    if name in FROM_BUDGET:  # the shared budget every technique of a comparison gets
        recipe_name = "epochs" if name == "finetune_epochs" else name
        recipe_field = Budget.model_fields[recipe_name]
    else:
        recipe_field = PruneOptions.model_fields[name]
    assert recipe_field.default == FIELDS[name].default
    assert recipe_field.metadata == FIELDS[name].metadata  # the same range


@pytest.mark.parametrize("name", list(FIELDS))
def test_python_takes_each_setting_by_its_name(name):
    assert getattr(PruneSettings(**{name: FIELDS[name].default}), name) == getattr(PruneSettings(), name)
    signature = inspect.signature(medprune.prune)
    assert "settings" in signature.parameters and any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())


BAD = [("max_layer_ratio", 1.5), ("round_to", 0), ("criterion", "nope"), ("target", "macs=2"),
       ("scope", "row"), ("temperature", 0.0), ("distill_weight", 2.0), ("schedule", "twice")]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_bad_value_is_refused_with_the_same_sentence_by_each_door(name, value, tmp_path):
    with pytest.raises(ConfigError) as python:
        PruneSettings(**{name: value})
    with pytest.raises(ConfigError) as in_memory:
        medprune.prune(nn.Linear(2, 2), torch.zeros(1, 2), **{name: value})
    assert str(in_memory.value) == str(python.value)
    if name in PruneOptions.model_fields:
        with pytest.raises(Exception) as recipe:
            Recipe.model_validate({"data": "pneumoniamnist", "reference": {"path": "r"},
                                   "techniques": [{"technique": "prune", name: value}]})
        sentence = str(python.value).split(": ", 1)[-1] if "(--" in str(python.value) else str(python.value)
        assert sentence.split(", got")[0].lower() in str(recipe.value).lower()


def test_one_default_granularity_for_every_door():
    assert PruneSettings().target == "macs=0.5" and PruneSettings().structured is True
    assert PruneSettings(target="sparsity=0.8").structured is False
    assert PruneSettings(pattern="2:4").granularity == "n:m"
    assert PruneOptions().settings(Budget()).structured is True
    with pytest.raises(ConfigError, match="needs channels removed"):
        PruneSettings(structured=False, target="macs=0.5")


def test_python_prune_infers_the_granularity_from_its_keywords():
    net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    sparse = medprune.prune(net, torch.zeros(1, 1, 8, 8), criterion="magnitude", target="sparsity=0.5")
    assert sparse.achieved["sparsity"] > 0.4 and sparse.achieved["macs_ratio"] == 1.0


def test_python_prune_defaults_to_the_declared_settings():
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(32, 2))
    result = medprune.prune(net, torch.zeros(1, 1, 12, 12), criterion="magnitude", round_to=1)
    assert result.target == PruneSettings().target and result.achieved["macs_ratio"] <= 0.55
    assert [s["step"] for s in result.steps] == [1]


TRAIN_FIELDS = {name: f for name, f in TrainConfig.model_fields.items()
                if extra_of(f).get("cli") is not False}
TRAIN_COMMAND = {param.name: param for param in typer.main.get_command(app).commands["train"].params}


@pytest.mark.parametrize("name", list(TRAIN_FIELDS))
def test_the_train_command_takes_each_training_setting_as_declared(name):
    field, param = TRAIN_FIELDS[name], TRAIN_COMMAND[name]
    assert set(flags(name, field)) <= set(param.opts)
    assert param.default == field.default and param.help == help_of(field)


@pytest.mark.parametrize("name", ["epochs", "lr", "batch_size", "seed"])
def test_a_recipes_reference_training_shares_the_declaration(name):
    recipe_field = ReferenceTraining.model_fields[name]
    assert recipe_field.default == TrainConfig.model_fields[name].default
    assert recipe_field.metadata == TrainConfig.model_fields[name].metadata


def test_the_learning_rate_has_one_range_in_every_door():
    with pytest.raises(ConfigError, match="lr"):
        TrainConfig(lr=20)
    with pytest.raises(Exception, match="less than 10"):
        ReferenceTraining(lr=20)
    assert TRAIN_COMMAND["lr"].help.endswith("[> 0, < 10]")


DATA_FIELDS = DataOptions.model_fields


@pytest.mark.parametrize("command", ["train", "import"])
@pytest.mark.parametrize("name", list(DATA_FIELDS))
def test_the_train_and_import_commands_read_data_as_declared(name, command):
    field = DATA_FIELDS[name]
    param = {p.name: p for p in typer.main.get_command(app).commands[command].params}[name]
    assert set(flags(name, field)) <= set(param.opts)
    assert param.default == field.default
    assert param.help == help_of(field) and field.description


@pytest.mark.parametrize("name", list(DATA_FIELDS))
def test_load_data_and_a_recipe_take_each_data_option(name):
    parameters = inspect.signature(medprune.data.load.load_data).parameters
    python_name = {"volume_size": "image_size", "split_seed": "seed"}.get(name, name)
    assert python_name in parameters
    if name not in ("volume_size",):
        assert parameters[python_name].default in (DATA_FIELDS[name].default, None, ())
    assert name in DataSettings.model_fields


def test_data_options_reach_load_data_by_their_names():
    options = DataOptions(label_column="Outcome", split_seed=3, classes="a,b", window="40,400", volume_size=32)
    assert options.load_kwargs() == {"label_column": "Outcome", "seed": 3, "classes": ["a", "b"],
                                     "window": (40.0, 400.0), "image_size": 32}
    recipe = DataSettings(path="t.csv", target="Outcome", seed=3)  # a recipe's older spellings still read
    assert recipe.load_kwargs() == {"label_column": "Outcome", "seed": 3}
    with pytest.raises(ConfigError, match="not both"):
        DataOptions(image_size=28, volume_size=28)


VALIDATE_COMMAND = {param.name: param for param in typer.main.get_command(app).commands["validate"].params}


@pytest.mark.parametrize("name", list(ProtocolOptions.model_fields))
def test_validate_a_recipe_and_python_share_the_protocol_settings(name):
    field, param = ProtocolOptions.model_fields[name], VALIDATE_COMMAND[name]
    assert set(flags(name, field)) <= set(param.opts)
    assert param.default == field.default and param.help == help_of(field)
    assert ValidationSettings.model_fields[name].default == field.default
    assert ValidationSettings.model_fields[name].metadata == field.metadata
    python = inspect.signature(medprune.validate_predictions).parameters
    if name in python:
        assert python[name].default == field.default


def test_one_name_for_the_resamples_and_the_minimum_cases():
    assert ValidationSettings(resamples=1500).n_resamples == 1500  # a recipe's older key still reads
    assert {"--n-resamples", "--resamples"} <= set(VALIDATE_COMMAND["n_resamples"].opts)
    assert {"--min-cases-per-class", "--min-cases"} <= set(VALIDATE_COMMAND["min_cases_per_class"].opts)


ACCELERATOR_COMMANDS = [("train",), ("prune",), ("search",), ("demo",), ("data", "prune")]


def _command_params(path):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return {param.name: param for param in command.params}


@pytest.mark.parametrize("path", ACCELERATOR_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("name", list(AcceleratorOptions.model_fields))
def test_every_verb_that_trains_takes_the_device_and_precision_as_declared(path, name):
    field, param = AcceleratorOptions.model_fields[name], _command_params(path)[name]
    assert set(flags(name, field)) <= set(param.opts)
    assert param.default == field.default and param.help == help_of(field)
    for settings in (TrainConfig, PruneSettings, Budget):  # Python and a recipe's budget: the same field
        assert repr(settings.model_fields[name]) == repr(field)


SEARCH_FIELDS = {(model, name): field for model in (SearchConfig, RunOptions)
                 for name, field in model.model_fields.items() if extra_of(field).get("cli") is not False}


@pytest.mark.parametrize(("model", "name"), list(SEARCH_FIELDS), ids=lambda key: getattr(key, "__name__", key))
def test_the_search_command_takes_each_search_setting_as_declared(model, name):
    field, param = SEARCH_FIELDS[(model, name)], _command_params(("search",))[name]
    assert set(flags(name, field)) <= set(param.opts)
    assert param.default == field.default and param.help == help_of(field) and field.description


def test_a_bad_search_setting_is_one_line_from_python_as_from_the_command_line():
    with pytest.raises(ConfigError, match=r"max layer ratio \(--max-layer-ratio\): input should be less than 1"):
        SearchConfig(model="run", max_layer_ratio=1.5)
    result = CliRunner().invoke(app, ["search", "--model", "run", "--out", "o", "--max-layer-ratio", "1.5"])
    assert result.exit_code == 2 and "max layer ratio (--max-layer-ratio): input should be less than 1" in result.output


@pytest.mark.parametrize("name", list(ExportSettings.model_fields))
def test_the_export_command_takes_each_export_setting_as_declared(name):
    field, param = ExportSettings.model_fields[name], _command_params(("export",))[name]
    assert set(flags(name, field)) <= set(param.opts)
    assert param.default == field.default and param.help == help_of(field) and field.description


@pytest.mark.parametrize("name", ["dynamic", "calibration_batches", "max_drop"])
def test_a_recipes_quantize_step_shares_the_export_declaration(name):
    assert repr(Quantize.Options.model_fields[name]) == repr(ExportSettings.model_fields[name])


def test_a_quantize_step_spells_the_format_as_export_does_and_reads_the_older_keys():
    int8_formats = set(FORMATS) - {"torchscript"}  # int8 runs in ONNX Runtime or OpenVINO
    assert set(Quantize.Options.model_fields["format"].annotation.__args__) == int8_formats
    with pytest.warns(FutureWarning, match="now spelt 'format: onnx|openvino' and 'dynamic: true|false'"):
        older = Quantize.Options(backend="onnxruntime", mode="dynamic")
    assert (older.format, older.dynamic) == ("onnx", True)
    with pytest.warns(FutureWarning):
        assert Quantize.Options(backend="openvino", mode="static").format == "openvino"


def test_a_bad_export_setting_is_one_line_from_python_as_from_the_command_line():
    with pytest.raises(ConfigError, match="format must be one of onnx, openvino, torchscript, got 'tflite'"):
        ExportSettings(format="tflite")
    result = CliRunner().invoke(app, ["export", "--model", "run", "--out", "m.onnx", "--format", "tflite"])
    assert result.exit_code == 2 and "format must be one of onnx, openvino, torchscript, got 'tflite'" in result.output
