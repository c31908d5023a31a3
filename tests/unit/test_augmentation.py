import numpy as np
import pytest
import torch

from medprune.training import augmentation


@pytest.mark.parametrize("mode, modality, n, chosen", [
    ("auto", "image", 546, "strong"), ("auto", "image", 4708, "light"), ("auto", "table", 100, "none"),
    ("light", "image", 100, "light"), ("corruptions", "table", 100, "none"),
])
def test_auto_picks_by_modality_and_size(mode, modality, n, chosen):
    assert augmentation.choose(mode, modality=modality, n_train=n) == chosen


def test_only_listed_data_is_mirrored():
    assert augmentation.mirror_safe("retinamnist") and augmentation.mirror_safe("adrenalmnist3d")
    assert not augmentation.mirror_safe("pneumoniamnist")  # a mirrored chest shows dextrocardia
    assert not augmentation.mirror_safe("my_folder")


def _strong(x, mirror, seed=0, **kw):
    return augmentation.strong(x, np.random.default_rng(seed), mirror=mirror, **kw)


@pytest.mark.parametrize("shape", [(8, 1, 28, 28), (8, 3, 28, 28), (4, 1, 16, 16, 16)])
def test_strong_keeps_shape_and_is_seeded(shape):
    x = torch.randn(shape)
    a, b = _strong(x, True), _strong(x, True)
    assert a.shape == x.shape and torch.isfinite(a).all() and torch.equal(a, b)
    assert not torch.equal(a, _strong(x, True, seed=1))


def test_with_no_geometry_strong_only_jitters_intensity_within_its_bounds(monkeypatch):
    monkeypatch.setattr(augmentation, "shift", lambda x, rng: x)
    x = torch.randn(16, 1, 12, 12)
    y = _strong(x, False, max_degrees=0, max_zoom=0, max_brightness=0.1, max_contrast=0.1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = (y - y.mean(dim=(1, 2, 3), keepdim=True)) / (x - mean)
    spread = contrast.flatten(1)
    assert torch.allclose(spread.min(1).values, spread.max(1).values, atol=1e-3)  # one contrast per image
    assert ((spread[:, 0] - 1).abs() <= 0.1 + 1e-4).all()
    assert ((y.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))).abs() <= 0.1 + 1e-4).all()


def test_mirroring_of_images_happens_only_when_allowed(monkeypatch):
    monkeypatch.setattr(augmentation, "shift", lambda x, rng: x)
    x = torch.arange(64.0).reshape(1, 1, 8, 8).repeat(32, 1, 1, 1)
    plain = dict(max_degrees=0, max_zoom=0, max_brightness=0, max_contrast=0)
    kept = _strong(x, False, **plain)
    assert torch.allclose(kept, x, atol=1e-4)
    mirrored = _strong(x, True, **plain)
    flipped = torch.tensor([torch.allclose(m, x[0].flip(-1), atol=1e-4) for m in mirrored])
    same = torch.tensor([torch.allclose(m, x[0], atol=1e-4) for m in mirrored])
    assert (flipped | same).all() and 0 < flipped.sum() < 32
