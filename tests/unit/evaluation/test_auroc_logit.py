"""The logit-scale DeLong interval for a paired AUROC difference, against a slow textbook inversion."""

import numpy as np
import pytest
from scipy import stats

from medprune.evaluation.auroc_logit import compute_logit_delong_interval, logit_delong_p_value
from medprune.evaluation.delong import PairedComponents, delong_paired_test, paired_components
from medprune.validation.endpoints import compute_auroc_difference


def _pairwise_components(y, s):
    """V10 and V01 from every positive-negative pair (ties half): O(n^2), obviously right."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(axis=1), psi.mean(axis=0)


def _slow_interval(y, ref, cand, alpha):
    """Scan d on a fine grid and keep the run of values around the estimate that the logit test does not reject,
    every quantity computed plainly (far from the estimate, near A_r + d = 0 or 1, the statistic returns to 0:
    those values are not part of the interval)."""
    r10, r01 = _pairwise_components(y, ref)
    c10, c01 = _pairwise_components(y, cand)
    a_r, a_c = r10.mean(), c10.mean()
    k_pos = np.sum((r10 < 1) | (c10 < 1))
    k_neg = np.sum((r01 < 1) | (c01 < 1))
    grid = np.arange(-0.3, 0.3, 1e-5)
    accepted = np.zeros(len(grid), bool)
    for i, d in enumerate(grid):
        t = a_r + d
        if not 0 < t < 1:
            continue
        w_r, w_c = 1 / (t * (1 - t)), 1 / (a_c * (1 - a_c))
        s_pos = np.var(w_c * c10 - w_r * r10, ddof=1) / len(r10)
        s_neg = np.var(w_c * c01 - w_r * r01, ddof=1) / len(r01)
        df = (s_pos + s_neg) ** 2 / (s_pos ** 2 / (k_pos - 1) + s_neg ** 2 / (k_neg - 1))
        statistic = (np.log(a_c / (1 - a_c)) - np.log(t / (1 - t))) / np.sqrt(s_pos + s_neg)
        accepted[i] = abs(statistic) <= stats.t.ppf(1 - alpha / 2, df)
    start = np.argmin(np.abs(grid - (a_c - a_r)))
    low, high = start, start
    while low > 0 and accepted[low - 1]:
        low -= 1
    while high < len(grid) - 1 and accepted[high + 1]:
        high += 1
    return grid[low], grid[high]


def _models(n, seed, separation=2.0, noise=0.6):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    ref = separation * y + rng.normal(size=2 * n)
    cand = ref + noise * rng.normal(size=2 * n)
    return y, ref, cand


@pytest.mark.parametrize("n, seed, separation", [(40, 0, 2.0), (60, 1, 3.0), (30, 2, 1.0)])
def test_the_interval_matches_a_slow_grid_inversion(n, seed, separation):
    y, ref, cand = _models(n, seed, separation)
    low, high = compute_logit_delong_interval(paired_components(y, ref, cand), 0.05)
    slow_low, slow_high = _slow_interval(y, ref, cand, 0.05)
    assert low == pytest.approx(slow_low, abs=2e-5) and high == pytest.approx(slow_high, abs=2e-5)


def test_the_p_value_crosses_alpha_half_at_the_lower_bound():
    y, ref, cand = _models(50, 3)
    parts = paired_components(y, ref, cand)
    low, _ = compute_logit_delong_interval(parts, 0.05)
    assert logit_delong_p_value(parts, margin=-low) == pytest.approx(0.025, abs=1e-6)


def test_near_auroc_1_the_lower_bound_reaches_further_than_delongs():
    y, ref, cand = _models(100, 4, separation=4.0, noise=0.8)
    low, high = compute_logit_delong_interval(paired_components(y, ref, cand), 0.05)
    delong = delong_paired_test(y, ref, cand)
    assert delong.auroc_reference > 0.98
    assert low < delong.ci_low and high < 1 - delong.auroc_reference + 1e-12


def test_perfect_separation_leaves_the_logit_undefined_and_mover_decides():
    y, ref, cand = _models(30, 5, separation=20.0)
    parts = paired_components(y, ref, cand)
    assert parts.aurocs == (1.0, 1.0)
    assert np.isnan(compute_logit_delong_interval(parts, 0.05)).all()
    low, high, p = compute_auroc_difference(y, ref, cand, 0.01, 0.05)
    assert low < -0.01 < 0 < high and p > 0.025  # 30 + 30 perfectly separated cases cannot show a 0.01 margin


def test_averaged_conditions_are_judged_on_the_averaged_components():
    y, ref, cand = _models(50, 6)
    single = compute_auroc_difference(y, ref, cand, 0.05, 0.05)
    twice = compute_auroc_difference(y, [ref, ref], [cand, cand], 0.05, 0.05)
    assert twice == pytest.approx(single)
    y, other_ref, other_cand = _models(50, 7)
    parts = PairedComponents.mean([paired_components(y, ref, cand), paired_components(y, other_ref, other_cand)])
    both = [paired_components(y, ref, cand).aurocs, paired_components(y, other_ref, other_cand).aurocs]
    assert parts.aurocs == pytest.approx(tuple(np.mean(both, axis=0)))
