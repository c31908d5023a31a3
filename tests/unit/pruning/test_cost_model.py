"""The analytic cost model gives exactly the MACs PyTorch counts on the built model, in 2D and 3D."""

import numpy as np
import pytest
import torch
from torch import nn

from medprune.evaluation.efficiency import count_macs
from medprune.models import create_model
from medprune.pruning.cost_model import CostModel
from medprune.pruning.criterion import CRITERIA, CalibrationData
from medprune.pruning.groups import apply_removals, output_shape, pick_removals, plan_groups
from medprune.pruning.structured import DenseFigures, prune_channels
from medprune.pruning.target import Target


def small_3d_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(1, 16, 3, padding=1), nn.BatchNorm3d(16), nn.ReLU(), nn.MaxPool3d(2),
                         nn.Conv3d(16, 32, 3, padding=1), nn.BatchNorm3d(32), nn.ReLU(),
                         nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(32, 2)).eval()


def _plans(model, shape):
    example = torch.zeros(1, *shape)
    data = CalibrationData([], shape)
    criterion = CRITERIA.get("magnitude")()
    names = {m: n for n, m in model.named_modules()}
    scores = {names[m]: s for m, s in criterion.score(model, data).items()}
    return example, plan_groups(model, example, criterion, scores, DenseFigures.measure(model, shape, False).widths,
                                2, 0.9)


@pytest.mark.parametrize("build, shape", [
    (lambda: create_model("resnet18", input_shape=(1, 16, 16), n_classes=2, modality="image"), (1, 16, 16)),
    (small_3d_cnn, (1, 8, 8, 8)),
    # U-Net decoders up-sample with transposed convolutions, counted on their input positions
    (lambda: create_model("unet", input_shape=(1, 32, 32), n_classes=2, modality="image"), (1, 32, 32)),
    (lambda: create_model("unet", input_shape=(1, 16, 16, 16), n_classes=3, modality="image"), (1, 16, 16, 16)),
])
def test_analytic_macs_equal_the_counted_macs_of_the_built_model(build, shape):
    model = build().eval()
    example, plans = _plans(model, shape)
    costs = CostModel(model, example, plans)
    assert costs.macs([0] * len(plans)) == count_macs(model, shape)
    for fraction in np.linspace(0.1, 1.0, 4):
        removed = pick_removals(plans, float(fraction), global_ranking=True, multiple=8)
        built = apply_removals(model, example, plans, removed, output_shape(model, example))
        assert costs.macs(removed) == count_macs(built, shape)


def test_a_macs_target_lands_within_the_target_and_close_to_it():
    model = create_model("resnet18", input_shape=(1, 28, 28), n_classes=2, modality="image").eval()
    shape = (1, 28, 28)
    dense = DenseFigures.measure(model, shape, with_latency=False)
    pruned, ratio = prune_channels(model, CRITERIA.get("magnitude")(), CalibrationData([], shape),
                                   Target.parse("macs=0.5"), dense=dense, n_classes=2)
    assert ratio == pytest.approx(count_macs(pruned, shape) / dense.macs)
    assert 0.45 < ratio <= 0.5


def test_a_macs_target_on_a_unet_is_not_overshot():
    """The 2D U-Net once landed at MACs x0.08 for a x0.25 target: its up-sampling layers were left out of the costs."""
    shape = (1, 64, 64)
    torch.manual_seed(0)
    model = create_model("unet", input_shape=shape, n_classes=2, modality="image").eval()
    dense = DenseFigures.measure(model, shape, with_latency=False)
    pruned, ratio = prune_channels(model, CRITERIA.get("magnitude")(), CalibrationData([], shape),
                                   Target.parse("macs=0.25"), dense=dense, n_classes=2)
    assert ratio == pytest.approx(count_macs(pruned, shape) / dense.macs)
    assert 0.2 < ratio <= 0.25
