"""A model pruned in Python becomes a run directory the CLI takes."""

import json

import pytest
import torch

import medprune
from medprune.data import load_data
from medprune.errors import CheckpointError, ConfigError
from medprune.models import create_model, load_checkpoint


def test_a_model_pruned_in_python_is_saved_as_a_run_directory_every_verb_reads(tiny_npz, tmp_path):
    from typer.testing import CliRunner

    from medprune.cli import app

    data = load_data(tiny_npz)
    torch.manual_seed(0)
    model = create_model("smallcnn", input_shape=(1, 16, 16), n_classes=2, width=8)
    result = medprune.prune(model, torch.zeros(1, 1, 16, 16), target="macs=0.5", criterion="magnitude")
    record = result.save(tmp_path / "pruned", data, architecture="smallcnn", kwargs={"width": 8})
    assert {p.name for p in (tmp_path / "pruned").iterdir()} == {"model.pt", "metrics.json", "summary.md"}
    loaded = load_checkpoint(tmp_path / "pruned")
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), result.model.eval()(x), atol=1e-5)
    assert loaded.threshold is not None and loaded.spec.pruning["target"] == result.target
    assert json.loads((tmp_path / "pruned" / "metrics.json").read_text())["auroc"] == record["auroc"]
    evaluated = CliRunner().invoke(app, ["evaluate", "--model", str(tmp_path / "pruned"), "--data", str(tiny_npz)])
    assert evaluated.exit_code == 0, evaluated.output
    with pytest.raises(ConfigError, match="already holds a model"):
        result.save(tmp_path / "pruned", data, architecture="smallcnn", kwargs={"width": 8})


def test_saving_under_the_wrong_architecture_is_refused_and_leaves_no_model(tiny_npz, tmp_path):
    data = load_data(tiny_npz)
    model = create_model("smallcnn", input_shape=(1, 16, 16), n_classes=2, width=8)
    result = medprune.prune(model, torch.zeros(1, 1, 16, 16), target="macs=0.5", criterion="magnitude")
    with pytest.raises(CheckpointError, match="pass the architecture and kwargs the unpruned model was built with"):
        result.save(tmp_path / "wrong", data, architecture="resnet18")
    assert not (tmp_path / "wrong" / "model.pt").exists()
