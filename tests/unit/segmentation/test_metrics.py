"""Segmentation metrics checked against slow textbook implementations (scipy surfaces and pairwise distances)."""

import numpy as np
import pytest
from scipy.ndimage import binary_erosion
from scipy.spatial.distance import cdist

from medprune.evaluation.segmentation import case_metrics, score_cases


def _surface_points(mask: np.ndarray, spacing) -> np.ndarray:
    surface = mask & ~binary_erosion(mask, border_value=0)
    return np.argwhere(surface) * np.asarray(spacing)


def _textbook(pred: np.ndarray, true: np.ndarray, spacing, tolerance: float):
    a, b = _surface_points(pred, spacing), _surface_points(true, spacing)
    d = cdist(a, b)
    a_to_b, b_to_a = d.min(1), d.min(0)
    hd95 = max(np.percentile(a_to_b, 95), np.percentile(b_to_a, 95))
    nsd = ((a_to_b <= tolerance).sum() + (b_to_a <= tolerance).sum()) / (len(a) + len(b))
    dice = 2 * (pred & true).sum() / (pred.sum() + true.sum())
    return dice, hd95, nsd


def _ellipsoid(shape, centre, radii):
    grid = np.indices(shape).astype(float)
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.8, 1.2, 2.5)])
@pytest.mark.parametrize("seed", range(4))
def test_dice_hd95_and_nsd_agree_with_a_textbook_implementation(seed, spacing):
    rng = np.random.default_rng(seed)
    shape = (24, 28, 20)
    true = _ellipsoid(shape, rng.uniform(9, 13, 3), rng.uniform(4, 7, 3))
    pred = _ellipsoid(shape, rng.uniform(9, 13, 3), rng.uniform(4, 7, 3))
    dice, hd95, nsd, volume, volume_true = case_metrics(pred.astype(np.uint8), true.astype(np.uint8), 2, spacing,
                                                         tolerance_mm=1.5)
    ref_dice, ref_hd95, ref_nsd = _textbook(pred, true, spacing, 1.5)
    assert dice[0] == pytest.approx(ref_dice, abs=1e-6)
    assert hd95[0] == pytest.approx(ref_hd95, rel=0.05, abs=0.3)  # surface extraction differs by a voxel edge
    assert nsd[0] == pytest.approx(ref_nsd, abs=0.05)
    assert volume[0] == pytest.approx(pred.sum() * np.prod(spacing) / 1000)
    assert volume_true[0] == pytest.approx(true.sum() * np.prod(spacing) / 1000)


def test_empty_masks_follow_the_documented_convention():
    true = np.zeros((10, 12, 8), np.uint8)
    true[2:5, 3:7, 2:5] = 1  # structure 1 present, structure 2 absent
    pred = np.zeros_like(true)  # structure 1 missed, structure 2 correctly absent
    dice, hd95, nsd, _, _ = case_metrics(pred, true, 3, (1.0, 2.0, 1.0))
    diagonal = np.sqrt(10 ** 2 + 24 ** 2 + 8 ** 2)
    assert dice.tolist() == [0.0, 1.0] and nsd.tolist() == [0.0, 1.0]
    assert hd95.tolist() == pytest.approx([diagonal, 0.0])


def test_scores_stack_per_case_and_structure():
    true = np.zeros((3, 16, 16), np.uint8)
    true[:, 4:10, 4:10] = 1
    metrics = score_cases([t.copy() for t in true], list(true), np.ones((3, 2)), ["lung"])
    assert metrics.dice.shape == (3, 1) and (metrics.dice == 1).all() and (metrics.hd95 == 0).all()
    assert metrics.summary()["lung"]["dice"] == 1.0
