"""Low-rank factorisation: exact at full rank, rank chosen by energy or MACs target, reloadable."""

import pytest
import torch
from torch import nn

from medprune.compress import Budget, Context
from medprune.compress.lowrank import LowRank, _Layer, _output_positions, choose_ranks, macs_after
from medprune.evaluation.efficiency import count_macs
from medprune.models import Checkpoint, create_model, load_checkpoint, make_spec, save_checkpoint
from medprune.models.factorized import apply_factorized_structure, factorize


@pytest.mark.parametrize("layer", [nn.Conv2d(6, 10, 3, stride=2, padding=1), nn.Linear(12, 9)])
def test_full_rank_factorisation_reproduces_the_layer(layer):
    x = torch.randn(4, 6, 9, 9) if isinstance(layer, nn.Conv2d) else torch.randn(4, 12)
    full = min(layer.weight.shape[0], layer.weight[0].numel())
    assert torch.allclose(factorize(layer, full)(x), layer(x), atol=1e-5)


def test_truncation_keeps_the_best_low_rank_approximation():
    layer = nn.Linear(20, 16)
    with torch.no_grad():  # a rank-3 weight: rank 3 is exact, rank 2 is not
        layer.weight.copy_(torch.randn(16, 3) @ torch.randn(3, 20))
    x = torch.randn(8, 20)
    assert torch.allclose(factorize(layer, 3)(x), layer(x), atol=1e-4)
    assert not torch.allclose(factorize(layer, 2)(x), layer(x), atol=1e-2)


def test_energy_rule_and_analytic_macs_match_the_counted_ones():
    model = create_model("smallcnn", input_shape=(1, 16, 16), n_classes=2, modality="image")
    positions = _output_positions(model, (1, 16, 16))
    layers = [_Layer(n, m, positions[m]) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    ranks = choose_ranks(layers, 0.5)
    assert ranks and all(r % 8 == 0 for r in ranks.values())
    for layer in layers:
        if layer.name in ranks:
            parent, _, child = layer.name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, factorize(layer.module, ranks[layer.name]))
    dense = sum(layer.macs(None) for layer in layers)
    fresh = create_model("smallcnn", input_shape=(1, 16, 16), n_classes=2, modality="image")
    dense_total = count_macs(fresh, (1, 16, 16))
    assert dense_total >= dense
    assert count_macs(model, (1, 16, 16)) == macs_after(layers, ranks, dense_total)


def test_macs_target_is_met_and_the_factorised_model_reloads(tmp_path, tiny_npz):
    from medprune.data import load_data

    data = load_data(tiny_npz)
    net = create_model("smallcnn", input_shape=data.input_shape, n_classes=2, modality="image")
    spec = make_spec("smallcnn", input_shape=data.input_shape, class_names=data.class_names, modality="image",
                     task=data.task)
    reference = Checkpoint(net, spec.updated(threshold=0.5))
    ctx = Context(reference, data, Budget(epochs=0), tmp_path, progress=False)
    step = LowRank(LowRank.Options(target="macs=0.6"))
    out = step.apply(reference, ctx)
    assert count_macs(out.model, data.input_shape) <= 0.6 * count_macs(net, data.input_shape)
    assert step.details["ranks"] and out.spec.factorized == step.details["ranks"]
    save_checkpoint(tmp_path / "m.pt", out.model, out.spec)
    again = load_checkpoint(tmp_path / "m.pt")
    x = torch.randn(3, *data.input_shape)
    assert torch.allclose(again.model(x), out.model.eval()(x), atol=1e-6)


def test_unknown_factorised_layer_is_refused():
    from medprune.errors import CheckpointError

    model = create_model("smallcnn", input_shape=(1, 16, 16), n_classes=2, modality="image")
    with pytest.raises(CheckpointError, match="lacks"):
        apply_factorized_structure(model, {"layer9.conv": 8})
