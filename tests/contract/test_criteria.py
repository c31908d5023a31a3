"""Every registered criterion: scores shaped like the weights, and both granularities reach their targets."""

import pytest
import torch

from medprune.models import create_model
from medprune.pruning import CRITERIA, CalibrationData, Target
from medprune.pruning.criterion import scored_modules
from medprune.pruning.structured import DenseFigures, channel_widths, prune_channels
from medprune.pruning.unstructured import apply_masks, compute_masks, make_permanent, prunable_layers, zero_fraction

SHAPE = (1, 16, 16)


def _setup():
    torch.manual_seed(0)
    model = create_model("smallcnn", input_shape=SHAPE, n_classes=2, width=8).eval()
    data = CalibrationData([(torch.randn(8, *SHAPE), torch.randint(0, 2, (8,))) for _ in range(2)], SHAPE)
    return model, data


@pytest.mark.parametrize("name", CRITERIA.names())
def test_scores_are_shaped_like_weights_and_finite(name):
    model, data = _setup()
    criterion = CRITERIA.get(name)()
    for scores in (criterion.score(model, data), criterion.weight_scores(model, data)):
        assert set(scores) == set(scored_modules(model))
        for module, score in scores.items():
            assert score.shape == module.weight.shape and torch.isfinite(score).all()


@pytest.mark.parametrize("name", CRITERIA.names())
def test_structured_reaches_macs_target_and_keeps_layer_floors(name):
    model, data = _setup()
    dense = DenseFigures.measure(model, SHAPE, with_latency=False)
    pruned, ratio = prune_channels(model, CRITERIA.get(name)(), data, Target("macs", 0.5), dense=dense,
                                   n_classes=2, max_layer_ratio=0.8)
    assert 0.4 <= ratio <= 0.5
    assert pruned(torch.randn(3, *SHAPE)).shape == (3, 2)
    assert all(w >= 0.2 * dense.widths[n] for n, w in channel_widths(pruned).items())


@pytest.mark.parametrize("name", CRITERIA.names())
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_unstructured_reaches_sparsity(name, scope):
    model, data = _setup()
    layers = prunable_layers(model)
    apply_masks(compute_masks(CRITERIA.get(name)().weight_scores(model, data), layers, 0.6, scope=scope,
                              max_layer_ratio=0.9))
    make_permanent(model)
    sparsity, per_layer = zero_fraction(model)
    assert sparsity == pytest.approx(0.6, abs=0.02)
    assert max(per_layer.values()) <= 0.9 + 1e-6
