"""The AUROC interval that does not collapse near 1: score intervals (Newcombe 2006) combined by MOVER."""

import math

import numpy as np
import pytest
from scipy import stats

from medprune.evaluation.auroc_mover import (compute_auroc_score_interval, compute_mover_difference,
                                             hanley_mcneil_variance, mover_p_value)
from medprune.evaluation.bootstrap import stratified_counts
from medprune.validation.endpoints import compute_endpoint
from medprune.validation.paired_metrics import Predictions


@pytest.mark.parametrize("auroc, m, n", [(0.9, 30, 30), (1.0, 30, 30), (0.75, 50, 20), (0.98, 300, 300)])
def test_score_interval_matches_a_slow_grid_search(auroc, m, n):
    z = stats.norm.ppf(0.975)
    grid = np.linspace(0, 1, 200001)
    inside = grid[(auroc - grid) ** 2 <= z * z * np.array([hanley_mcneil_variance(t, m, n) for t in grid])]
    low, high = compute_auroc_score_interval(auroc, m, n, 0.05)
    assert low == pytest.approx(inside.min(), abs=1e-4) and high == pytest.approx(inside.max(), abs=1e-4)
    assert low < auroc or auroc == 0


def test_hanley_mcneil_variance_by_hand():
    # theta 0.8, 20 and 40 cases: k = 29; 0.8 * 0.2 * (1 + 29 * 0.2 / 1.2 + 29 * 0.8 / 1.8) / 800
    expected = 0.16 * (1 + 29 * 0.2 / 1.2 + 29 * 0.8 / 1.8) / 800
    assert hanley_mcneil_variance(0.8, 20, 40) == pytest.approx(expected)


def test_mover_by_hand():
    # delta = -0.05; below_c = 0.1, above_r = 0.05, r = 0.5 -> low = -0.05 - sqrt(0.01 + 0.0025 - 0.005)
    low, high = compute_mover_difference(0.9, (0.8, 0.95), 0.85, (0.75, 0.9), 0.5)
    assert low == pytest.approx(-0.05 - math.sqrt(0.01 + 0.0025 - 2 * 0.5 * 0.1 * 0.05))
    assert high == pytest.approx(-0.05 + math.sqrt(0.05 ** 2 + 0.1 ** 2 - 2 * 0.5 * 0.05 * 0.1))
    assert mover_p_value(0.9, 0.9, 30, 30, 1.0, 0.5) < 0.025  # a huge margin is met
    assert mover_p_value(0.9, 0.7, 30, 30, 1.0, 0.01) > 0.5  # far worse: no evidence at all


def test_two_models_that_both_separate_a_small_sample_are_not_called_non_inferior():
    # 30 + 30 cases, both models rank every positive above every negative: DeLong and the bootstrap give
    # (0, 0), which called this non-inferior at any margin; the score intervals say how little 60 cases show.
    y = np.repeat([0, 1], 30)
    ref = np.concatenate([np.linspace(0.0, 0.4, 30), np.linspace(0.6, 1.0, 30)])
    cand = ref ** 1.5
    wrap = lambda p: Predictions(np.column_stack([1 - p, p]), 0.5)  # noqa: E731
    end = compute_endpoint("auroc", y, wrap(ref), wrap(cand), stratified_counts(y, 2000, 0), margin=0.01, alpha=0.05)
    assert end.delta == 0 and end.ci_low < -0.05 and end.verdict == "inconclusive"
    assert "MOVER" in end.method
