"""Every score gives one finite value per training case; el2n is bounded; seeds repeat."""

import numpy as np
import pytest

from medprune.data import load_data
from medprune.datapruning import SCORES, ProxySettings

FAST = ProxySettings(epochs=1, runs=2, batch_size=16)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from tests.conftest import write_npz

    return load_data(write_npz(tmp_path_factory.mktemp("scores") / "d.npz", counts=(64, 32, 32)))


@pytest.mark.parametrize("name", ["el2n", "grand", "forgetting", "prototype", "random"])
def test_scores_cover_every_training_case(dataset, name):
    scores = SCORES.get(name)().compute(dataset, FAST)
    assert scores.shape == (64,) and np.isfinite(scores).all()
    if name == "el2n":
        assert scores.min() >= 0 and scores.max() <= np.sqrt(2) + 1e-6
    if name in ("random", "el2n"):
        assert np.allclose(scores, SCORES.get(name)().compute(dataset, FAST))  # seeded


def test_grand_matches_a_per_case_backward_pass(dataset):
    import torch
    import torch.nn.functional as F

    from medprune.data.batches import to_tensor
    from medprune.datapruning.score import train_proxy

    settings = ProxySettings(epochs=1, runs=1, batch_size=16)
    scores = SCORES.get("grand")().compute(dataset, settings)
    model = train_proxy(dataset, settings, 0).eval()
    train = dataset.split("train")
    for i in (0, 5):
        model.zero_grad()
        F.cross_entropy(model(to_tensor(train.x[i:i + 1], dataset.preprocessing)),
                        torch.from_numpy(train.y[i:i + 1])).backward()
        norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters() if p.grad is not None))
        assert scores[i] == pytest.approx(float(norm), rel=1e-3)
