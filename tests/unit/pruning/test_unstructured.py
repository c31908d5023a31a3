import pytest
import torch
from torch import nn

from medprune.errors import ConfigError
from medprune.pruning.unstructured import (apply_masks, compute_masks, compute_nm_masks, make_permanent,
                                           parse_pattern, zero_fraction)


def test_global_ranking_prunes_the_smallest_scores_across_layers():
    a, b = nn.Linear(10, 10), nn.Linear(10, 10)
    scores = {a: torch.full((10, 10), 1.0), b: torch.full((10, 10), 2.0)}
    masks = compute_masks(scores, [a, b], 0.4, max_layer_ratio=0.99)
    assert (~masks[a]).sum() == 80 and (~masks[b]).sum() == 0


def test_layer_cap_pushes_the_rest_of_the_budget_elsewhere():
    a, b = nn.Linear(10, 10), nn.Linear(10, 10)
    scores = {a: torch.full((10, 10), 1.0), b: torch.arange(100.0).view(10, 10) + 2}
    masks = compute_masks(scores, [a, b], 0.5, max_layer_ratio=0.7)
    assert (~masks[a]).sum() == 70 and (~masks[b]).sum() == 30
    assert bool(masks[b].flatten()[30:].all())  # the 30 smallest of b went


def test_per_layer_scope_prunes_each_layer_equally():
    a, b = nn.Linear(10, 10), nn.Linear(10, 10)
    scores = {a: torch.rand(10, 10), b: torch.rand(10, 10) + 5}
    masks = compute_masks(scores, [a, b], 0.3, scope="layer")
    assert (~masks[a]).sum() == 30 and (~masks[b]).sum() == 30


def test_pruned_weights_stay_pruned_even_with_high_scores():
    layer = nn.Linear(4, 4)
    with torch.no_grad():
        layer.weight[0] = 0
    masks = compute_masks({layer: torch.full((4, 4), 9.0)}, [layer], 0.25)
    assert not masks[layer][0].any()


def test_nm_pattern_keeps_n_of_every_m_input_channels():
    conv = nn.Conv2d(8, 4, 3)
    masks = compute_nm_masks({conv: torch.rand(4, 8, 3, 3)}, [conv], 2, 4)
    groups = masks[conv].movedim(1, -1).reshape(-1, 4)
    assert (groups.sum(1) == 2).all()
    first = nn.Conv2d(3, 4, 3)  # 3 input channels: not a multiple of 4, stays dense
    assert compute_nm_masks({first: torch.rand(4, 3, 3, 3)}, [first], 2, 4) == {}


def test_masks_hold_while_training_and_become_permanent():
    layer = nn.Linear(6, 6)
    mask = torch.rand(6, 6) > 0.5
    apply_masks({layer: mask})
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    layer(torch.randn(3, 6)).sum().backward()
    optimizer.step()
    make_permanent(layer)
    assert not hasattr(layer, "weight_orig")
    assert torch.equal(layer.weight != 0, mask)
    assert zero_fraction(nn.Sequential(layer))[0] == pytest.approx(1 - mask.float().mean().item())


def test_bad_pattern():
    with pytest.raises(ConfigError, match="N:M with 0 < N < M"):
        parse_pattern("4:2")



def test_masked_models_can_be_copied_and_rescored_by_synflow():
    from medprune.pruning import CRITERIA, CalibrationData
    from medprune.pruning.unstructured import copy_model

    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    apply_masks({model[0]: torch.rand(6, 4) > 0.5})
    model(torch.randn(2, 4))
    twin = copy_model(model)
    assert torch.equal(twin(torch.ones(1, 4)), model(torch.ones(1, 4)))
    scores = CRITERIA.get("synflow")().score(model, CalibrationData([], (4,)))
    assert scores[model[0]].shape == (6, 4)
