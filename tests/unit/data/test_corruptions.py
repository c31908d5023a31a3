"""Corruptions: deterministic for a seed, shape and dtype kept, further from the original (SSIM, scikit-image's)
as the severity rises, and their definitions match independent one-line references."""

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from skimage.metrics import structural_similarity

from medprune.data.corruptions import CORRUPTIONS, SEVERITIES, choose, corrupt, kind_of
from medprune.errors import ConfigError, UnknownNameError


def _images(kind, n=8, seed=0):
    """Smooth, structured images (a gradient and soft random blobs), like anatomy rather than pixel noise."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    side = 16 if kind == "volume" else 28
    grid = np.indices((side,) * (3 if kind == "volume" else 2)) / side
    base = 0.3 + 0.3 * grid[0] * grid[1]
    cases = [np.clip(base + 3 * ndimage.gaussian_filter(rng.normal(0, 0.1, base.shape), 2), 0, 1) for _ in range(n)]
    images = (np.stack(cases)[:, None] * 255).astype(np.uint8)
    return np.repeat(images, 3, axis=1) if kind == "rgb" else images


def _ssim(a, b):
    return np.mean([structural_similarity(x.astype(float), y.astype(float), data_range=255, channel_axis=0)
                    for x, y in zip(a, b)])


@pytest.mark.parametrize("kind, name", [(k, n) for k, table in CORRUPTIONS.items() for n in table])
def test_each_corruption_is_deterministic_keeps_shape_and_worsens_with_severity(kind, name):
    images = _images(kind)
    corruption = CORRUPTIONS[kind][name]
    outputs = [corrupt(images, corruption, s, seed=7) for s in SEVERITIES]
    for out in outputs:
        assert out.shape == images.shape and out.dtype == np.uint8
    assert np.array_equal(outputs[2], corrupt(images, corruption, 3, seed=7))
    similarity = [_ssim(images, out) for out in outputs]
    assert similarity[0] < 1.0 or name == "jpeg_compression"  # every severity changes the image
    assert similarity[-1] < similarity[0], similarity  # the strongest is further from the original than the mildest
    assert all(b <= a + 0.02 for a, b in zip(similarity, similarity[1:])), similarity  # and never much closer


def test_definitions_match_references():
    images = _images("grey", n=2)
    grey = CORRUPTIONS["grey"]
    x = images.astype(float) / 255
    expected = (np.clip(x ** 1.4, 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(corrupt(images, grey["gamma_corr_up"], 4), expected)
    pil = np.asarray(ImageEnhance.Contrast(Image.fromarray(images[0, 0])).enhance(0.6))
    assert np.abs(corrupt(images, grey["contrast_down"], 4)[0, 0].astype(int) - pil).max() <= 2  # Pillow's contrast
    pil = np.asarray(ImageEnhance.Brightness(Image.fromarray(images[0, 0])).enhance(1.3))
    assert np.abs(corrupt(images, grey["brightness_up"], 3)[0, 0].astype(int) - pil).max() <= 1
    hit = corrupt(images, grey["impulse_noise"], 5, seed=1) != images
    assert 0.005 < hit.mean() < 0.04  # 2% of pixels set to black or white (a few already were)
    assert corrupt(images, grey["gaussian_noise"], 1, seed=1).std() > 0


def test_kinds_names_and_mistakes():
    assert kind_of((1, 28, 28)) == "grey" and kind_of((3, 28, 28)) == "rgb" and kind_of((1, 28, 28, 28)) == "volume"
    assert len(choose("grey", "all")) == 13 and [c.name for c in choose("rgb", "pixelate,jpeg_compression")] == [
        "pixelate", "jpeg_compression"]
    with pytest.raises(UnknownNameError, match="did you mean 'gaussian_noise'"):
        choose("grey", "gausian_noise")
    with pytest.raises(UnknownNameError, match="jpeg_compression"):
        choose("volume", "jpeg_compression")
    with pytest.raises(ConfigError, match="severity must be 1..5"):
        corrupt(_images("grey"), CORRUPTIONS["grey"]["pixelate"], 6)


def test_random_corruption_for_training_changes_about_half_the_batch_reproducibly():
    from medprune.data.corruptions import corrupt_randomly

    images = _images("grey", n=200)
    first = corrupt_randomly(images, "grey", np.random.default_rng(3))
    again = corrupt_randomly(images, "grey", np.random.default_rng(3))
    changed = np.array([not np.array_equal(a, b) for a, b in zip(first, images)])
    assert np.array_equal(first, again) and first.dtype == np.uint8 and first.shape == images.shape
    assert 0.35 < changed.mean() < 0.6  # half are corrupted (a mild JPEG may leave one untouched)
