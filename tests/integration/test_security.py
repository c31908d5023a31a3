"""Nothing medprune reads runs code, no output destroys an input, and a lock holds on the resolved path."""

import json
import os

import numpy as np
import pytest
import torch

from medprune.errors import ConfigError
from medprune.outputs import claim_output
from tests.integration.test_cli import FAST, assert_one_line_error, invoke, trained  # noqa: F401


@pytest.fixture(scope="module")
def run(request):
    """A folder with tiny.npz and run/ (a smallcnn trained on it): test_cli's fixture."""
    return request.getfixturevalue("trained")


def _with_spec_name(source, target, name, kwargs):
    """A copy of a real checkpoint whose spec names another builder: tensors only, nothing pickled."""
    payload = torch.load(source, weights_only=True)
    spec = json.loads(payload["spec"])
    spec["model"].update(name=name, kwargs=kwargs)
    payload["spec"] = json.dumps(spec)
    torch.save(payload, target)
    return target


@pytest.mark.parametrize("name", ["factory:os:system", "monai:os", "monai:get_pretrained_resnet_medicalnet",
                                  "factory:subprocess:call"])
def test_a_checkpoint_naming_a_callable_outside_the_zoo_runs_nothing(run, tmp_path, name):
    marker = tmp_path / "MARKER"
    hostile = _with_spec_name(run / "run" / "model.pt", tmp_path / "model.pt", name,
                              {"command": f"touch {marker}", "args": ["touch", str(marker)]})
    result = invoke("evaluate", "--model", hostile, "--data", run / "tiny.npz", "--repeats", "1")
    assert_one_line_error(result, "model.pt")
    assert not marker.exists()


def _bundle(folder, network_def, extra=None):
    (folder / "configs").mkdir(parents=True)
    (folder / "models").mkdir()
    config = {"network_def": network_def, **(extra or {})}
    (folder / "configs" / "inference.json").write_text(json.dumps(config))
    return folder


def test_a_bundle_expression_is_not_evaluated_without_the_users_word(run, tmp_path):
    marker = tmp_path / "MARKER"
    expression = f"$__import__('pathlib').Path('{marker}').touch() or 1"
    bundle = _bundle(tmp_path / "bundle", {"_target_": "monai.networks.nets.resnet18", "spatial_dims": 2,
                                           "n_input_channels": "@channels", "num_classes": 2},
                     {"channels": expression})
    result = invoke("import", "--bundle", bundle, "--data", run / "tiny.npz", "--out", tmp_path / "out")
    assert_one_line_error(result, "--trust-bundle-code")
    assert not marker.exists() and not (tmp_path / "out" / "model.pt").exists()
    # a target outside MONAI would choose code to run too
    other = _bundle(tmp_path / "other", {"_target_": "os.system", "command": f"touch {marker}"})
    assert_one_line_error(invoke("import", "--bundle", other, "--data", run / "tiny.npz", "--out", tmp_path / "o2"),
                          "not a MONAI network")
    assert not marker.exists()
    # with the user's word the expression runs, and the run says so
    trusted = invoke("import", "--bundle", bundle, "--trust-bundle-code", "--data", run / "tiny.npz", "--out",
                     tmp_path / "trusted")
    assert marker.exists() and "evaluating the Python expressions" in trusted.stderr


def test_a_refused_output_is_refused_before_the_bundle_is_read(run, tmp_path):
    marker = tmp_path / "MARKER"
    bundle = _bundle(tmp_path / "bundle", {"_target_": "monai.networks.nets.resnet18", "spatial_dims": 2,
                                           "n_input_channels": 1, "num_classes": 2},
                     {"x": f"$__import__('pathlib').Path('{marker}').touch()"})
    result = invoke("import", "--bundle", bundle, "--trust-bundle-code", "--data", run / "tiny.npz", "--out",
                    run / "run")
    assert_one_line_error(result, "already holds a trained model")
    assert not marker.exists()


def test_no_command_writes_over_its_own_input_or_a_model_file(run, tmp_path):
    model = run / "run" / "model.pt"
    before = model.read_bytes()
    folder = tmp_path / "images"
    folder.mkdir()
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path\n")
    assert_one_line_error(invoke("predict", "--model", run / "run", "--data", run / "tiny.npz", "--out", model),
                          "is also an input of this command")
    other_model = tmp_path / "other.pt"
    other_model.write_bytes(before)
    assert_one_line_error(invoke("predict", "--model", run / "run", "--data", manifest, "--out", other_model),
                          "holds a model or data file")
    assert_one_line_error(invoke("predict", "--model", run / "run", "--data", manifest, "--image-column", "path",
                                 "--out", manifest), "is also an input of this command")
    assert_one_line_error(invoke("prune", "--model", model, "--data", run / "tiny.npz", "--out", run / "run",
                                 "--overwrite", "--no-progress"), "the folder of the input model")
    assert model.read_bytes() == before and manifest.read_text() == "path\n"


def test_a_lock_holds_through_a_symlink_and_on_the_default_compare_folder(run, tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    alias = tmp_path / "alias"
    os.symlink(target, alias)
    with claim_output(target, "dir"):
        with pytest.raises(ConfigError, match="another medprune run is writing"):
            with claim_output(alias / ".." / "out", "dir"):
                pass
        with pytest.raises(ConfigError, match="another medprune run is writing"):
            with claim_output(alias, "dir"):
                pass
        result = invoke("train", "--data", run / "tiny.npz", "--model", "smallcnn", "--out", alias, *FAST)
        assert_one_line_error(result, "another medprune run is writing")
    assert not list(tmp_path.glob(".*medprune-lock")) and not list(target.iterdir())
    monkeypatch.chdir(tmp_path)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("data: {name: x}\n")
    with claim_output(tmp_path / "runs" / "compare" / "recipe", "dir"):
        assert_one_line_error(invoke("compare", recipe, "--overwrite"), "another medprune run is writing")


def test_a_manifest_read_as_a_table_is_refused_and_no_identifier_reaches_a_model(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["path,split,patient_id,label"]
    for i in range(80):
        image = tmp_path / f"case{i}.png"
        image.write_bytes(b"")
        rows.append(f"{image.name},{['train', 'val', 'test'][i % 3]},P{1000 + i},{int(rng.uniform() > 0.5)}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    result = invoke("train", "--data", manifest, "--label-column", "label", "--model", "mlp", "--out", tmp_path / "run",
                    *FAST)
    assert_one_line_error(result, "pass --image-column path")
    assert not (tmp_path / "run" / "model.pt").exists()


def test_identifier_columns_of_a_table_are_refused_unless_allowed(tiny_table, tmp_path):
    lines = tiny_table.read_text().splitlines()
    with_ids = [lines[0] + ",PatientID"] + [f"{line},{5000 + i}" for i, line in enumerate(lines[1:])]
    table = tmp_path / "ids.csv"
    table.write_text("\n".join(with_ids) + "\n")
    base = ("train", "--data", table, "--label-column", "Outcome", "--model", "mlp", *FAST)
    assert_one_line_error(invoke(*base, "--out", tmp_path / "a"), "column 'PatientID' would be a model input")
    allowed = invoke(*base, "--allow-column", "PatientID", "--out", tmp_path / "b")
    assert allowed.exit_code == 0, allowed.output
