"""Selection keeps the hardest cases, per class by default, with the noise and easy-negative options."""

import numpy as np
import pytest

from medprune.datapruning import Selection, select
from medprune.errors import ConfigError

Y = np.array([0] * 80 + [1] * 20)
SCORES = np.arange(100, dtype=float)  # harder with the index


def test_stratified_keeps_the_hardest_of_each_class_in_proportion():
    kept = select(SCORES, Y, Selection(keep=0.5))
    assert (Y[kept] == 0).sum() == 40 and (Y[kept] == 1).sum() == 10
    assert set(kept[Y[kept] == 0]) == set(range(40, 80)) and set(kept[Y[kept] == 1]) == set(range(90, 100))


def test_unstratified_drop_hardest_and_easy_negatives():
    assert set(select(SCORES, Y, Selection(keep=0.3, stratify=False))) == set(range(70, 100))
    kept = select(SCORES, Y, Selection(keep=0.5, drop_hardest=0.1))
    assert not set(kept) & {72, 73, 78, 79, 98, 99}  # the hardest 10 % of each class went first
    kept = select(SCORES, Y, Selection(keep=0.5, easy_negatives_only=True))
    assert set(range(80, 100)) <= set(kept) and len(kept) == 50  # every positive, the hardest negatives
    assert set(kept[Y[kept] == 0]) == set(range(50, 80))


@pytest.mark.parametrize("bad", [Selection(keep=0), Selection(keep=1.5), Selection(keep=0.5, drop_hardest=0.7),
                                 Selection(keep=0.1, easy_negatives_only=True)])
def test_bad_selections(bad):
    with pytest.raises(ConfigError):
        select(SCORES, Y, bad)


def test_keep_easy_keeps_the_lowest_scores_per_class():
    kept = select(SCORES, Y, Selection(keep=0.5, prefer="easy"))
    assert set(kept) == set(range(0, 40)) | set(range(80, 90))
