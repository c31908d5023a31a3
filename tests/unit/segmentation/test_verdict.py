"""The segmentation verdict: each interval against an independent implementation, each endpoint's direction,
the safety endpoint's small-sample honesty and the decision rule."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import DescrStatsW

from medprune.evaluation.segmentation import CaseMetrics
from medprune.validation.endpoints import narrowest_half_width
from medprune.validation.segmentation import (SegmentationMargins, bland_altman, judge_segmentation,
                                              paired_mean_interval, paired_median_interval, safety_cases_needed,
                                              segmentation_endpoints)


def _metrics(dice, hd95):
    dice, hd95 = np.atleast_2d(np.asarray(dice, float).T).T, np.atleast_2d(np.asarray(hd95, float).T).T
    zeros = np.zeros_like(dice)
    return CaseMetrics(["left", "right"][:dice.shape[1]], dice, hd95, zeros, zeros, zeros)


@pytest.mark.parametrize("n", [20, 40, 80])
def test_the_mean_interval_holds_the_t_interval_of_statsmodels_and_a_slow_bootstrap(n):
    rng = np.random.default_rng(n)
    d = 0.01 - rng.gamma(0.5, 0.04, n)  # left-skewed: most cases lose little, a few lose much
    low, high, _ = paired_mean_interval(d, 0.05, 2000, seed=1)
    t_low, t_high = DescrStatsW(d).tconfint_mean(alpha=0.05)
    se = d.std(ddof=1) / np.sqrt(n)
    slow = []  # the bootstrap-t, one resample at a time (Efron & Tibshirani 1993, ch. 12)
    for i in range(2000):
        r = d[np.random.default_rng(1000 + i).integers(0, n, n)]
        if r.std() > 0:
            slow.append((r.mean() - d.mean()) / (r.std(ddof=1) / np.sqrt(n)))
    q_low, q_high = np.quantile(slow, [0.025, 0.975])
    b_low, b_high = d.mean() - q_high * se, d.mean() - q_low * se
    assert low <= t_low + 1e-12 and high >= t_high - 1e-12  # at least as wide as the t interval
    assert min(t_low, b_low) == pytest.approx(low, abs=0.004)  # and no wider than the wider of the two
    assert max(t_high, b_high) == pytest.approx(high, abs=0.004)
    assert b_low < t_low  # left-skewed losses: the bootstrap-t reaches further down than the t interval


def test_the_dice_p_value_is_at_least_the_one_sided_t_test_of_scipy():
    rng = np.random.default_rng(3)
    ref = rng.uniform(0.8, 0.9, 40)
    cand = ref - rng.normal(0.005, 0.01, 40)
    end = segmentation_endpoints(_metrics(ref, ref + 1), _metrics(cand, ref + 1), margins=SegmentationMargins(),
                                 alpha=0.05, n_resamples=2000, seed=0)["dice:left"]
    scipy_p = stats.ttest_1samp(cand - ref + 0.02, 0.0, alternative="greater").pvalue
    assert end.p_noninferiority >= scipy_p - 1e-12 and end.verdict == "non-inferior"
    assert end.delta == pytest.approx(np.mean(cand - ref))


def test_hd95_is_judged_in_its_own_direction():
    ref_hd = np.full(60, 2.0)
    rng = np.random.default_rng(0)
    closer = _metrics(np.full(60, 0.9), ref_hd - rng.uniform(0, 0.4, 60))
    farther = _metrics(np.full(60, 0.9), ref_hd + rng.uniform(1.5, 2.5, 60))
    reference = _metrics(np.full(60, 0.9), ref_hd)
    margins = SegmentationMargins()
    good = segmentation_endpoints(reference, closer, margins=margins, alpha=0.05, n_resamples=500, seed=0)
    bad = segmentation_endpoints(reference, farther, margins=margins, alpha=0.05, n_resamples=500, seed=0)
    assert good["hd95:left"].verdict == "non-inferior" and "below +1 mm" in good["hd95:left"].reason
    assert bad["hd95:left"].verdict == "inferior" and "farther by more than the margin" in bad["hd95:left"].reason
    in_pixels = segmentation_endpoints(reference, farther, margins=margins, alpha=0.05, n_resamples=500, seed=0,
                                       unit="px")["hd95:left"]  # PNG masks have no pixel size
    assert "+1 px" in in_pixels.reason and "mm" not in in_pixels.reason


@pytest.mark.parametrize(("n", "falls", "verdict"), [(52, 0, "inconclusive"), (120, 0, "non-inferior"),
                                                     (120, 30, "inferior")])
def test_the_safety_endpoint_counts_cases_whose_dice_falls(n, falls, verdict):
    ref = np.full((n, 2), 0.88)
    cand = ref.copy()
    cand[:falls, 1] -= 0.2  # one structure of these cases loses 0.2 Dice
    end = segmentation_endpoints(_metrics(ref, np.ones((n, 2))), _metrics(cand, np.ones((n, 2))),
                                 margins=SegmentationMargins(), alpha=0.05, n_resamples=200, seed=0)["safety"]
    assert end.candidate == pytest.approx(1 - falls / n) and end.verdict == verdict
    if n == 52:  # even perfect agreement cannot bound a 5 % share on 52 cases: said plainly, with what it needs
        assert "no candidate can be shown non-inferior on this endpoint with 52 test cases" in end.reason
        assert "at least 73 test cases" in end.reason
    else:
        assert "no candidate can be shown" not in end.reason


@pytest.mark.parametrize(("fall_share", "alpha"), [(0.05, 0.05), (0.10, 0.05), (0.05, 0.10), (0.02, 0.05)])
def test_the_cases_the_safety_endpoint_needs_match_the_interval_itself(fall_share, alpha):
    needed = safety_cases_needed(fall_share, alpha)
    # a slow search over the interval the verdict uses: the first n whose no-fall interval lies inside the margin
    first = next(n for n in range(2, 2000) if narrowest_half_width(n, alpha) < fall_share)
    assert needed == first


def test_too_few_cases_are_inconclusive_with_the_reason_and_holm_spans_candidates():  # minimum: 40
    rng = np.random.default_rng(0)
    ref_d = rng.uniform(0.85, 0.9, (10, 2))
    ref = _metrics(ref_d, np.ones((10, 2)))
    same = _metrics(ref_d.copy(), np.ones((10, 2)))
    verdicts = judge_segmentation(ref, {"a": same}, margins=SegmentationMargins(), n_resamples=200)
    assert verdicts[0].verdict == "inconclusive" and "only 10 test cases" in verdicts[0].verdict_reason
    big = rng.uniform(0.85, 0.9, (150, 2))
    ref, same = _metrics(big, np.ones((150, 2))), _metrics(big.copy(), np.ones((150, 2)))
    worse = _metrics(big - 0.3, np.ones((150, 2)) * 5)
    verdicts = judge_segmentation(ref, {"same": same, "worse": worse}, margins=SegmentationMargins(), n_resamples=200)
    assert [v.verdict for v in verdicts] == ["non-inferior", "inferior"]
    assert set(verdicts[1].failed_endpoints) >= {"dice:left", "hd95:left", "safety"}


def test_bland_altman_bias_and_limits():
    a, b = np.array([3.1, 2.9, 3.4, 3.0]), np.array([3.0, 3.0, 3.1, 2.8])
    out = bland_altman(a, b)
    d = a - b
    assert out["bias"] == pytest.approx(d.mean()) and out["high"] == pytest.approx(d.mean() + 1.96 * d.std(ddof=1))


@pytest.mark.parametrize("n", [20, 40, 80])
def test_the_hd95_median_interval_is_the_exact_sign_test_interval(n):
    from statsmodels.stats.descriptivestats import sign_test

    rng = np.random.default_rng(n)
    d = (rng.lognormal(0, 1, n) - 1) * 0.7  # heavy right tail, as HD95 changes are
    median, low, high = paired_median_interval(d, 0.05)
    assert median == pytest.approx(np.median(d))
    # Independent check: the interval is every value m that a two-sided sign test does not reject at 5 %.
    grid = np.sort(np.concatenate([d - 1e-9, d + 1e-9]))
    kept = [m for m in grid if sign_test(d, m)[1] > 0.05]
    assert low == pytest.approx(min(kept), abs=1e-6) and high == pytest.approx(max(kept), abs=1e-6)
