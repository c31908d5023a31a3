"""Structured pruning works on every image model of the zoo, and the result reloads without pickle."""

import pytest
import torch

from medprune.models import MODELS, create_model, load_checkpoint, make_spec, save_checkpoint
from medprune.pruning import CRITERIA, CalibrationData, Target
from medprune.pruning.structured import DenseFigures, prune_channels


@pytest.mark.parametrize("name", [n for n in MODELS.names() if MODELS.get(n).modality == "image"
                                  and MODELS.get(n).task == "classification"] + ["mlp"])
def test_every_model_prunes_structurally_and_reloads(name, tmp_path):
    table = MODELS.get(name).modality == "table"
    shape = (12,) if table else (3, 32, 32)
    torch.manual_seed(0)
    model = create_model(name, input_shape=shape, n_classes=3, modality="table" if table else "image").eval()
    data = CalibrationData([(torch.randn(4, *shape), torch.randint(0, 3, (4,)))], shape)
    dense = DenseFigures.measure(model, shape, with_latency=False)
    pruned, ratio = prune_channels(model, CRITERIA.get("magnitude")(), data, Target("params", 0.6), dense=dense,
                                   n_classes=3)
    assert ratio <= 0.6
    x = torch.randn(2, *shape)
    expected = pruned.eval()(x)
    spec = make_spec(name, input_shape=shape, class_names=["a", "b", "c"],
                     modality="table" if table else "image", task="multiclass")
    save_checkpoint(tmp_path / "model.pt", pruned, spec)
    assert torch.allclose(load_checkpoint(tmp_path).model(x), expected, atol=1e-5)
