"""Fine-tuning picks its epoch the way `validate` will judge it: an epoch that moves the operating point beyond
the margin never wins on validation AUROC alone."""

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, roc_auc_score
from torch import nn

from medprune.compress.technique import Budget
from medprune.data import load_data
from medprune.errors import ConfigError
from medprune.evaluation.operating_point import OperatingPointGuard, figures_at_threshold
from medprune.evaluation.predict import predict_proba
from medprune.pruning.prune import PruneSettings
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
    val = data.split("val")
    shifted_probs, blurred_probs = (predict_proba(m, val, data.preprocessing) for m in (shifted, blurred))
    on_shifted, on_blurred = (figures_at_threshold(val.y, p, 0.5) for p in (shifted_probs, blurred_probs))
    assert on_shifted["auroc"] > on_blurred["auroc"]  # validation AUROC alone would keep the shifted epoch
    assert on_shifted["specificity"] < guard.specificity - 0.05 and not guard.keeps(on_shifted)
    assert guard.keeps(on_blurred)
    assert guard.score(val.y, blurred_probs) > guard.score(val.y, shifted_probs)
    assert "among the epochs keeping" in guard.said() and "within 0.05" in guard.said()


def test_figures_at_a_threshold_agree_with_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(0.3 * y + rng.uniform(0, 0.7, 200), 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    figures = figures_at_threshold(y, probs, 0.45)
    tn, fp, fn, tp = confusion_matrix(y, (p1 >= 0.45).astype(int)).ravel()
    assert figures["auroc"] == pytest.approx(roc_auc_score(y, p1))
    assert (figures["sensitivity"], figures["specificity"], figures["ppv"], figures["npv"]) == pytest.approx(
        (tp / (tp + fn), tn / (tn + fp), tp / (tp + fp), tn / (tn + fn)))
    assert set(figures_at_threshold(y, probs, None)) == {"auroc"}  # no operating point without a threshold


def test_no_guard_without_an_operating_point_or_when_turned_off(tmp_path):
    data = load_data(write_npz(tmp_path / "tiny.npz", counts=(16, 40, 16)))
    assert OperatingPointGuard.of(Brightness(), data, threshold=None, margin=0.05) is None  # multi-class: argmax
    assert OperatingPointGuard.of(Brightness(), data, threshold=0.5, margin=1.0) is None
    assert PruneSettings().operating_margin == Budget().operating_margin == 0.05
    with pytest.raises(ConfigError, match="must be in"):
        OperatingPointGuard.of(Brightness(), data, threshold=0.5, margin=0.0)


@pytest.mark.parametrize("margin, guarded", [(0.05, True), (1.0, False)])
def test_every_recipe_step_fine_tunes_under_the_guard(tmp_path, tiny_npz, margin, guarded):
    from medprune.compress import Context
    from medprune.models import Checkpoint, create_model, make_spec

    data = load_data(tiny_npz)
    net = create_model("smallcnn", input_shape=data.input_shape, n_classes=2, width=4)
    spec = make_spec("smallcnn", input_shape=data.input_shape, class_names=data.class_names, modality="image",
                     task=data.task, kwargs={"width": 4})
    said = []
    ctx = Context(Checkpoint(net, spec.updated(threshold=0.5)), data, Budget(epochs=1, operating_margin=margin),
                  tmp_path, progress=False, log=said.append)
    student = create_model("smallcnn", input_shape=data.input_shape, n_classes=2, width=4)
    ctx.finetune(student, distill=True, keep_start=False)
    assert ("validation sensitivity and specificity at the reference threshold within 0.05" in said[-1]) == guarded
