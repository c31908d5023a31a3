"""Recipes: valid ones load; every mistake is one line naming the file, line and key path."""

import textwrap

import pytest

from medprune.comparison import load_recipe
from medprune.compress import TECHNIQUES
from medprune.errors import ConfigError

GOOD = """\
data: pneumoniamnist
reference:
  train: {model: resnet18, epochs: 12}
budget: {epochs: 2}
techniques:
  - technique: prune
    criterion: taylor
  - name: small
    technique: lowrank
    target: macs=0.5
  - chain:
      - {technique: prune}
      - {technique: distill}
      - technique: quantize
        dynamic: false
"""


def _load(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(text))
    return load_recipe(path)


def test_a_valid_recipe_loads_single_steps_and_chains(tmp_path):
    recipe = _load(tmp_path, GOOD)
    assert [e.label for e in recipe.techniques] == ["prune", "small", "prune -> distill -> quantize"]
    assert recipe.techniques[1].chain[0].target == "macs=0.5" and recipe.budget.epochs == 2


def test_every_registered_technique_has_a_default_step():
    for name in TECHNIQUES.names():
        assert TECHNIQUES.get(name).Options().technique == name


@pytest.mark.parametrize("old,new,expected", [
    ("technique: quantize", "technique: quantise", "line 14 (techniques[2].chain[2]): unknown technique 'quantise'"),
    ("dynamic: false", "dynamic: fast", "line 15 (techniques[2].chain[2].dynamic): Input should be a valid boolean"),
    ("criterion: taylor", "criterion: tayler", "line 7 (techniques[0].criterion): unknown criterion 'tayler'"),
    ("criterion: taylor", "criterion: taylor\n    round_to: 0", "line 8 (techniques[0].round_to)"),
    ("    target: macs=0.5", "    target: macs=0.5\n    rnak: 3", "line 11 (techniques[1].rnak): unknown key"),
    ("    target: macs=0.5", "    target: flops=0.5", "line 10 (techniques[1].target): target 'flops=0.5'"),
    ("      - {technique: distill}", "      - {technique: quantize}", "must be the last step"),
    ("budget: {epochs: 2}", "budget: {epochs: -1}", "line 4 (budget.epochs)"),
    ("budget: {epochs: 2}", "budget: {epochs: 2", "line 5: not valid YAML"),
    ("  train: {model: resnet18, epochs: 12}", "  train: {model: resnet81}", "unknown model 'resnet81'"),
    ("  - technique: prune\n    criterion: taylor\n", "  - technique: distill\n", "needs a student model"),
    ("  - name: small\n", "  - name: prune\n", "names must be unique; repeated: prune"),
    ("budget: {epochs: 2}", "budget: {epochs: 2}\nvalidation: {margin: 0.01}\nvalidation: {margin: 0.5}",
     "line 6: the key 'validation' appears again (first on line 5)"),
    ("budget: {epochs: 2}", "budget: {epochs: 2, epochs: 3}", "line 4: the key 'epochs' appears again"),
    ("budget: {epochs: 2}", "budget: {epochs: 2}\nvalidation: {endpoints: [auroc, sensitivty]}",
     "unknown metric 'sensitivty': did you mean 'sensitivity'?"),
])
def test_mistakes_are_located(tmp_path, old, new, expected):
    assert old in GOOD
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, GOOD.replace(old, new))
    message = str(err.value)
    assert expected in message and "\n" not in message and "recipe.yaml" in message


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="a recipe is a mapping"):
        _load(tmp_path, "- just\n- a list\n")


def test_recipe_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_bytes(GOOD.encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"recipe.yaml line 16: not UTF-8 text \(byte 0xe9\)"):
        load_recipe(path)


def test_data_with_reading_options_reaches_load_data(tmp_path):
    from medprune.comparison.recipe import data_options

    text = GOOD.replace("data: pneumoniamnist", "data: {path: labels.csv, image_column: dicom, label_column: label, "
                                                 "group_column: patient, window: [40, 400], positive_class: mass}")
    data, options = data_options(_load(tmp_path, text))
    assert data == "labels.csv" and options == {"image_column": "dicom", "label_column": "label",
                                                "group_column": "patient", "window": (40.0, 400.0),
                                                "positive_class": "mass"}
    older = data_options(_load(tmp_path, text.replace("label_column: label", "target: label")))[1]
    assert older["label_column"] == "label"  # the older spelling still reads
    assert data_options(_load(tmp_path, GOOD)) == ("pneumoniamnist", {})
    with pytest.raises(ConfigError, match=r"line 1 \(data\..*image_colum\): unknown key"):
        _load(tmp_path, GOOD.replace("data: pneumoniamnist", "data: {path: l.csv, image_colum: x}"))


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path):
    rows = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    names = "abcdefghijkl"
    for previous, name in zip(names, names[1:]):
        rows.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    with pytest.raises(ConfigError, match="aliases expand to more than 100,000 values"):
        _load(tmp_path, "\n".join(rows) + "\n")


def test_an_ordinary_alias_is_still_read(tmp_path):
    recipe = _load(tmp_path, """\
        data: pneumoniamnist
        reference:
          train: {model: resnet18, epochs: 12}
        techniques:
          - &pruned {technique: prune, criterion: taylor}
          - chain: [*pruned, {technique: distill}]
        """)
    assert [e.label for e in recipe.techniques] == ["prune", "prune -> distill"]


def test_margins_have_one_spelling_and_the_older_margin_still_reads(tmp_path):
    from medprune.comparison.recipe import ValidationSettings

    assert ValidationSettings(margins=0.02).primary_and_by_endpoint() == (0.02, {})
    assert ValidationSettings(margins={"auroc": 0.02, "sensitivity": 0.04}).primary_and_by_endpoint() == \
        (0.02, {"sensitivity": 0.04})
    with pytest.warns(FutureWarning, match="now spelt 'margins:'"):
        older = ValidationSettings(margin=0.03, margins={"sensitivity": 0.04})
    assert older.primary_and_by_endpoint() == (0.03, {"sensitivity": 0.04})
    with pytest.raises(Exception, match="margin of sensitivity must be in"):
        ValidationSettings(margins={"sensitivity": 1.5})
