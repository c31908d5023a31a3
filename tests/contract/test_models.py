"""Every registered architecture builds, runs, and survives a checkpoint round trip."""

import json

import pytest
import torch

from medprune.models import MODELS, create_model, load_checkpoint, make_spec, save_checkpoint


def _shape(name):
    return (3, 32, 32) if MODELS.get(name).modality == "image" else (7,)


@pytest.mark.parametrize("name", MODELS.names())
def test_builds_runs_and_round_trips(name, tmp_path):
    shape = _shape(name)
    modality = MODELS.get(name).modality
    torch.manual_seed(0)
    model = create_model(name, input_shape=shape, n_classes=3, modality=modality).eval()
    x = torch.randn(2, *shape)
    expected = model(x)
    assert expected.shape == (2, 3)
    spec = make_spec(name, input_shape=shape, class_names=["a", "b", "c"], modality=modality, task="multiclass")
    save_checkpoint(tmp_path / "model.pt", model, spec)
    loaded = load_checkpoint(tmp_path)
    assert torch.allclose(loaded.model(x), expected, atol=1e-6)
    assert json.loads(json.dumps(loaded.spec)) == loaded.spec


@pytest.mark.parametrize("name", [n for n in MODELS.names() if MODELS.get(n).min_size > 28])
def test_large_models_refuse_small_images(name):
    with pytest.raises(Exception, match=f"model '{name}' needs images of at least 32 px, got 28 px"):
        create_model(name, input_shape=(1, 28, 28), n_classes=2)
