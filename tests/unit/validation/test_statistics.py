"""DeLong, the vectorised bootstrap and Holm against worked examples and slow references."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from medprune.evaluation.bootstrap import percentile_ci, stratified_counts, weighted_auroc
from medprune.evaluation.delong import delong_paired_test, delong_variance, structural_components
from medprune.validation import holm_adjust


def test_delong_worked_example_by_hand():
    # positives 0.9, 0.8; negatives 0.7, 0.85. Pairs won: 0.9 beats both, 0.8 beats 0.7 only.
    y = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.85])
    auc, v10, v01 = structural_components(y, s)
    assert auc == 0.75
    assert v10.tolist() == [1.0, 0.5] and v01.tolist() == [1.0, 0.5]
    # S10 = S01 = var([1, .5], ddof=1) = 0.125; Var = 0.125/2 + 0.125/2
    assert delong_variance(y, s) == (0.75, pytest.approx(0.125))


def test_delong_ties_count_half():
    y = np.array([1, 0])
    assert structural_components(y, np.array([0.5, 0.5]))[0] == 0.5


def test_delong_matches_a_slow_pairwise_reference():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    a, b = y + rng.normal(size=60), y * 0.5 + rng.normal(size=60)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)

    def psi(x, z):
        return 1.0 if x > z else 0.5 if x == z else 0.0

    def components(s):
        v10 = np.array([np.mean([psi(s[i], s[j]) for j in neg]) for i in pos])
        v01 = np.array([np.mean([psi(s[i], s[j]) for i in pos]) for j in neg])
        return v10, v01

    (a10, a01), (b10, b01) = components(a), components(b)
    var = (np.var(a10 - b10, ddof=1) / len(pos) + np.var(a01 - b01, ddof=1) / len(neg))
    delta = b10.mean() - a10.mean()
    result = delong_paired_test(y, a, b)
    assert result.delta == pytest.approx(delta)
    assert result.se == pytest.approx(np.sqrt(var))
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(delta / np.sqrt(var))))
    assert result.auroc_reference == pytest.approx(roc_auc_score(y, a))


def test_identical_models_give_zero_delta_and_p_one():
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.9, 0.3, 0.7, 0.4, 0.5])
    result = delong_paired_test(y, s, s)
    assert result.delta == 0 and result.p_value == 1.0


def test_weighted_auroc_equals_sklearn_with_sample_weights():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = np.round(y + rng.normal(size=300), 1)  # rounded: many ties
    counts = stratified_counts(y, 5, seed=0)
    expected = [roc_auc_score(y, s, sample_weight=c) for c in counts]
    assert np.allclose(weighted_auroc(y == 1, s, counts), expected)


def test_stratified_counts_keep_class_sizes_and_are_seeded():
    y = np.array([0] * 30 + [1] * 10)
    counts = stratified_counts(y, 50, seed=3)
    assert (counts[:, y == 1].sum(axis=1) == 10).all() and (counts.sum(axis=1) == 40).all()
    assert np.array_equal(counts, stratified_counts(y, 50, seed=3))


def test_bootstrap_ci_coverage_of_a_paired_auroc_difference():
    """200 simulated studies: the 95% paired-bootstrap CI should contain the true delta ~95% of the time."""
    from scipy.stats import norm

    mu_a, mu_b, n = 1.2, 0.9, 200
    true_delta = norm.cdf(mu_b / np.sqrt(2)) - norm.cdf(mu_a / np.sqrt(2))  # binormal AUROC
    rng = np.random.default_rng(7)
    covered = 0
    for sim in range(200):
        y = (np.arange(n) % 2).astype(int)
        a = rng.normal(size=n) + mu_a * y
        b = rng.normal(size=n) + mu_b * y
        counts = stratified_counts(y, 1000, seed=sim)
        low, high = percentile_ci(weighted_auroc(y == 1, b, counts) - weighted_auroc(y == 1, a, counts), 0.05)
        covered += low <= true_delta <= high
    assert 0.90 <= covered / 200 <= 0.99  # binomial SE at 95% over 200 runs is 1.5 points


def test_holm_adjustment_worked_example():
    # p = 0.01, 0.04, 0.03 -> sorted 0.01*3, 0.03*2, 0.04*1 -> 0.03, 0.06, 0.06 (monotone)
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_delong_with_zero_standard_error_and_a_real_difference_gives_p_zero():
    # Reference separates perfectly (every component 1), candidate ranks every positive last (every
    # component 0): no variance at all, yet the AUROCs differ by 1; pROC reports p = 0 here.
    y = np.array([1, 1, 1, 0, 0, 0])
    result = delong_paired_test(y, np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]), np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]))
    assert result.se == 0 and result.delta == -1 and result.p_value == 0.0
