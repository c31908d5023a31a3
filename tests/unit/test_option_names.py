"""One name for one thing: a pruning option is spelled the same on the command line, in a recipe and in Python."""

import inspect
from dataclasses import fields

import typer

import medprune
from medprune.cli.app import app
from medprune.compress.prune import FROM_BUDGET, PruneOptions
from medprune.compress.technique import Budget
from medprune.pruning import PruneSettings

SETTINGS = {f.name for f in fields(PruneSettings)}


def test_every_prune_setting_is_a_flag_of_the_same_name():
    command = typer.main.get_command(app).commands["prune"]
    flags = {flag for param in command.params for flag in param.opts}
    assert {"--" + name.replace("_", "-") for name in SETTINGS} <= flags


def test_a_recipes_prune_step_takes_the_settings_by_their_names_and_the_budget_the_rest():
    assert set(PruneOptions.model_fields) - {"technique", "epochs"} == SETTINGS - set(FROM_BUDGET)
    settings = PruneOptions(round_to=16, scope="layer").settings(Budget(epochs=2, lr=0.1))
    assert (settings.round_to, settings.scope, settings.finetune_epochs, settings.lr) == (16, "layer", 2, 0.1)


def test_the_python_prune_uses_the_same_names_for_what_it_shares():
    python = set(inspect.signature(medprune.prune).parameters)
    shared = {"criterion", "target", "structured", "schedule", "scope", "max_layer_ratio", "pattern", "round_to"}
    assert shared <= python and shared <= SETTINGS


def test_distillation_options_are_named_alike_in_every_technique():
    from medprune.compress.distill import Distill

    assert {"temperature", "distill_weight"} <= set(Distill.Options.model_fields) & SETTINGS
    assert Distill.Options(weight=0.3).distill_weight == 0.3  # the older spelling still reads
