"""Keeping the largest connected components of a structure, and choosing where to do it on validation cases."""

import numpy as np
import pytest
from scipy import ndimage

from medprune.training.segmentation import Inference, components_to_keep, keep_largest_components


def _lungs() -> np.ndarray:
    labels = np.zeros((12, 12), dtype=np.uint8)
    labels[2:7, 1:4] = 1  # right lung: 15 pixels
    labels[2:7, 5:7] = 1  # left lung: 10 pixels
    labels[10, 10] = 1  # a stray blob on the border
    labels[8, 8] = 1  # two pixels diagonally off the left lung's corner: a separate blob
    labels[0:2, 9:11] = 2  # another structure, left alone
    return labels


def test_only_the_largest_components_of_the_label_stay():
    one, two = keep_largest_components(_lungs(), 1, 1), keep_largest_components(_lungs(), 1, 2)
    assert (one == 1).sum() == 15 and (two == 1).sum() == 25 and two[10, 10] == two[8, 8] == 0
    assert (one == 2).sum() == (two == 2).sum() == 4 and one.dtype == np.uint8
    touching = _lungs()
    touching[7, 7] = 1  # joins the blob to the left lung through corners: one component
    assert (keep_largest_components(touching, 1, 2) == 1).sum() == 27


def test_agrees_with_a_slow_flood_fill_in_3d():
    volume = (np.random.default_rng(0).random((9, 9, 9)) < 0.3).astype(np.uint8)
    kept = keep_largest_components(volume, 1)
    sizes = np.bincount(ndimage.label(volume, structure=np.ones((3, 3, 3)))[0].ravel())[1:]
    assert (kept == 1).sum() == sizes.max()
    # a slow reference: grow from one kept voxel by 26-neighbour steps within the mask; it must fill exactly the kept
    grown = np.zeros(volume.shape, dtype=bool)
    grown[tuple(np.argwhere(kept == 1)[0])] = True
    while (bigger := ndimage.binary_dilation(grown, structure=np.ones((3, 3, 3))) & (volume == 1)).sum() > grown.sum():
        grown = bigger
    assert (grown == (kept == 1)).all()


def test_a_label_with_few_components_or_none_is_unchanged():
    labels = np.zeros((5, 5), dtype=np.uint8)
    labels[1:3, 1:3] = 1
    assert (keep_largest_components(labels, 1) == labels).all()
    assert (keep_largest_components(labels, 2) == labels).all()


def test_validation_chooses_how_many_components_and_only_where_dice_rises():
    truth = _lungs()
    truth[10, 10] = truth[8, 8] = 0
    # the lungs: two components hold the truth (one would drop a lung); structure 2 is already right: left alone
    assert components_to_keep([_lungs(), truth], [truth, truth], 3) == ((1, 2),)
    assert components_to_keep([truth], [truth], 3) == ()


@pytest.mark.parametrize("recorded, kept", [({"patch_size": [8, 8]}, ()),  # written before post-processing existed
                                            ({"patch_size": [8, 8], "overlap": 0.5, "keep_largest": {"1": 2}},
                                             ((1, 2),))])
def test_the_choice_travels_in_the_spec(recorded, kept):
    inference = Inference.recorded(recorded, (1, 8, 8))
    assert inference.keep_largest == kept
    assert Inference.recorded(inference.to_dict(), (1, 8, 8)) == inference
    assert (inference.postprocess(_lungs()) == 1).sum() == (25 if kept else 27)
