"""Fine-tuning a pruned model picks its epoch the way `validate` will judge it: an epoch that moves the operating
point beyond the margin never wins on validation AUROC alone."""

import numpy as np
import torch
from torch import nn

from medprune.data import load_data
from medprune.pruning.prune import OperatingPointGuard, PruneSettings
from tests.conftest import write_npz


class Brightness(nn.Module):
    """Scores a case by the brightness of its centre (where the synthetic class signal is), shifted by `bias`,
    plus `noise` times the brightness of a corner (unrelated to the class), which blurs the ranking a little."""

    def __init__(self, bias: float = 0.0, noise: float = 0.0) -> None:
        super().__init__()
        self.bias, self.noise = bias, noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centre, corner = x[..., 4:12, 4:12].mean(dim=(1, 2, 3)), x[..., :4, :4].mean(dim=(1, 2, 3))
        score = 8 * (centre - centre.median()) + self.noise * (corner - corner.median()) + self.bias
        return torch.stack([torch.zeros_like(score), score], dim=1)


def test_an_epoch_that_moves_the_operating_point_ranks_below_one_that_keeps_it(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(120) % 2
    x = rng.integers(0, 60, (120, 16, 16))
    x[y == 1, 4:12, 4:12] += 6  # a weak signal: the classes overlap on validation
    data = load_data(write_npz(tmp_path / "tiny.npz", counts=(16, 120, 16), val_images=x.astype(np.uint8),
                               val_labels=y.reshape(-1, 1).astype(np.uint8)))
    guard = OperatingPointGuard.of(Brightness(), data, threshold=0.5, margin=0.05)
    shifted = Brightness(bias=0.1)  # the reference's ranking (its AUROC), but many more cases called positive
    blurred = Brightness(noise=0.5)  # ranks a little worse, keeps the operating point
    (auroc_shifted, _, spec_shifted), (auroc_blurred, sens_blurred, spec_blurred) = (
        guard._figures(shifted), guard._figures(blurred))
    assert auroc_shifted > auroc_blurred  # validation AUROC alone would keep the shifted epoch
    assert spec_shifted < guard.specificity - 0.05
    assert sens_blurred >= guard.sensitivity - 0.05 and spec_blurred >= guard.specificity - 0.05
    assert guard.score(blurred) > guard.score(shifted)
    assert "among the epochs keeping" in guard.said() and "within 0.05" in guard.said()


def test_no_guard_without_an_operating_point_or_when_turned_off(tmp_path):
    data = load_data(write_npz(tmp_path / "tiny.npz", counts=(16, 40, 16)))
    assert OperatingPointGuard.of(Brightness(), data, threshold=None, margin=0.05) is None  # multi-class: argmax
    assert OperatingPointGuard.of(Brightness(), data, threshold=0.5, margin=1.0) is None
    assert PruneSettings().operating_margin == 0.05
