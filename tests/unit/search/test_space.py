"""The search space: analytic MACs equal counted MACs; repairs and uniform vectors meet the budget."""

import numpy as np
import pytest
import torch

from medprune.models import create_model
from medprune.pruning.criterion import CRITERIA, CalibrationData
from medprune.search.space import SearchSpace


def _space(arch, shape=(1, 16, 16), round_to=8):
    torch.manual_seed(0)
    model = create_model(arch, input_shape=shape, n_classes=2, modality="image")
    data = CalibrationData([(torch.randn(4, *shape), torch.tensor([0, 1, 0, 1]))], shape)
    return SearchSpace(model, CRITERIA.get("magnitude")(), data, 2, round_to=round_to)


@pytest.mark.parametrize("arch", ["smallcnn", "resnet18"])
def test_analytic_macs_are_exactly_the_counted_ones(arch):
    space = _space(arch)
    rng = np.random.default_rng(0)
    for _ in range(3):
        keep = space.clip(rng.random(len(space.names)).tolist())
        analytic, counted = space.check_macs(keep)
        assert analytic == counted


def test_floors_multiples_of_eight_and_budget_repair():
    space = _space("resnet18")
    assert all(0 < f < 1 for f in space.floors)
    removed = space.removed([0.3] * len(space.names))
    assert all((w - r) % 8 == 0 for w, r in zip(space.widths, removed))
    repaired = space.repair([1.0] * len(space.names), space.macs_ratio, 0.3)
    assert space.macs_ratio(repaired) <= 0.3
    assert all(k >= f for k, f in zip(repaired, space.floors))
    uniform = space.uniform(space.macs_ratio, 0.3)
    assert space.macs_ratio(uniform) <= 0.3 and len(set(np.round(uniform, 9))) <= 2  # one ratio (or its floor)
    assert space.repair([1.0] * len(space.names), space.macs_ratio, 1e-4) is None  # below the floors


@pytest.mark.parametrize("round_to", [1, 16])
def test_widths_follow_round_to_like_structured_pruning(round_to):
    space = _space("resnet18", round_to=round_to)
    keep = [0.3] * len(space.names)
    kept = [w - r for w, r in zip(space.widths, space.removed(keep))]
    assert all(k % round_to == 0 for k in kept)
    if round_to == 1:  # no rounding: the exact share (above the floor) is kept
        assert any(k % 8 for k in kept)
    analytic, counted = space.check_macs(keep)
    assert analytic == counted
