"""Co-primary endpoints and the decision rule, against published values and slow references."""

import numpy as np
import pytest
from scipy import optimize, stats

from medprune.evaluation.bootstrap import stratified_counts
from medprune.evaluation.paired_proportions import (compute_paired_proportion_difference,
                                                    paired_proportion_p_value)
from medprune.validation.endpoints import compute_endpoint
from medprune.validation.noninferiority import decide, too_few_cases
from medprune.validation.paired_metrics import Predictions


def _pairs(both: int, cand_only: int, ref_only: int, neither: int):
    cand = np.array([1] * both + [1] * cand_only + [0] * ref_only + [0] * neither, bool)
    ref = np.array([1] * both + [0] * cand_only + [1] * ref_only + [0] * neither, bool)
    return cand, ref


def test_tango_matches_the_published_cavo_example():
    # Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables" (2017), chapter 8:
    # Cavo et al. (2012) table [[59, 6], [16, 80]] -> Tango 95% CI -0.1240 to -0.0054, estimate -0.0621.
    result = compute_paired_proportion_difference(*_pairs(59, 6, 16, 80), alpha=0.05)
    assert result.delta == pytest.approx(-0.0621, abs=5e-5)
    assert result.ci_low == pytest.approx(-0.1240, abs=5e-5)
    assert result.ci_high == pytest.approx(-0.0054, abs=5e-5)


def _slow_tango_interval(b: int, c: int, n: int, alpha: float) -> tuple[float, float]:
    """Restricted MLE by numerical maximisation of the multinomial likelihood, inverted on a fine grid."""
    z = stats.norm.ppf(1 - alpha / 2)

    def score(delta0):
        def negloglik(q21):
            q12 = q21 + delta0
            rest = 1 - q12 - q21
            if min(q12, q21, rest) <= 0:
                return np.inf
            return -(b * np.log(q12) + c * np.log(q21) + (n - b - c) * np.log(rest))

        lo, hi = max(0, -delta0) + 1e-12, (1 - delta0) / 2 - 1e-12
        q21 = optimize.minimize_scalar(negloglik, bounds=(lo, hi), method="bounded",
                                       options={"xatol": 1e-12}).x
        return (b - c - n * delta0) / np.sqrt(n * (2 * q21 + delta0 * (1 - delta0)))

    grid = np.linspace(-0.999, 0.999, 3997)
    inside = [d for d in grid if abs(score(d)) <= z]
    return min(inside), max(inside)


@pytest.mark.parametrize("both, cand_only, ref_only, neither", [(20, 2, 7, 1), (5, 0, 3, 22), (40, 4, 4, 2)])
def test_tango_matches_a_slow_likelihood_reference(both, cand_only, ref_only, neither):
    n = both + cand_only + ref_only + neither
    low, high = _slow_tango_interval(cand_only, ref_only, n, 0.05)
    result = compute_paired_proportion_difference(*_pairs(both, cand_only, ref_only, neither), alpha=0.05)
    assert result.ci_low == pytest.approx(low, abs=1e-3) and result.ci_high == pytest.approx(high, abs=1e-3)


def test_tango_p_value_crosses_alpha_half_at_the_lower_bound():
    cand, ref = _pairs(59, 6, 16, 80)
    low = compute_paired_proportion_difference(cand, ref, alpha=0.05).ci_low
    assert paired_proportion_p_value(cand, ref, margin=-low) == pytest.approx(0.025, abs=1e-6)


def test_tango_does_not_collapse_when_the_models_never_disagree():
    result = compute_paired_proportion_difference(np.ones(30, bool), np.ones(30, bool), alpha=0.05)
    assert result.delta == 0 and result.ci_low < -0.1 and result.ci_high > 0.1


def _binary(probs_pos: np.ndarray, threshold: float = 0.5) -> Predictions:
    return Predictions(np.column_stack([1 - probs_pos, probs_pos]), threshold)


def _scores(n_per_class: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n_per_class)
    score = 1 / (1 + np.exp(-(2.5 * (y - 0.5) + rng.normal(size=len(y)))))
    return y, score


def _judge(y, ref, cand, margins=None, minimum=30, alpha=0.05):
    margins = margins or {"auroc": 0.01, "sensitivity": 0.05, "specificity": 0.05}
    counts = stratified_counts(y, 2000, 0)
    ends = {name: compute_endpoint(name, y, ref, cand, counts, margin=m, alpha=alpha) for name, m in margins.items()}
    return decide([ends], primary="auroc", alpha=alpha, too_few=too_few_cases(y, ["normal", "disease"], minimum))[0]


def test_identical_models_are_non_inferior():
    y, score = _scores(150)
    result = _judge(y, _binary(score), _binary(score))
    assert result.verdict == "non-inferior" and result.failed_endpoints == []
    assert set(result.endpoints) == {"auroc", "sensitivity", "specificity"}


def test_same_ranking_but_moved_operating_point_is_not_non_inferior():
    y, score = _scores(150)
    shrunk = score ** 4  # same order of cases (same AUROC), far fewer cases above the reference threshold
    result = _judge(y, _binary(score), _binary(shrunk))
    assert result.endpoints["auroc"]["delta"] == 0
    assert result.verdict == "inferior" and result.failed_endpoints == ["sensitivity"]
    assert "sensitivity at the reference threshold" in result.verdict_reason


def test_judging_auroc_alone_ignores_the_operating_point():
    y, score = _scores(150)
    result = _judge(y, _binary(score), _binary(score ** 4), margins={"auroc": 0.01})
    assert result.verdict == "non-inferior"


def test_noisier_candidate_is_inconclusive_and_names_the_endpoint():
    y, score = _scores(150)
    rng = np.random.default_rng(1)
    noisy = np.clip(score + rng.normal(scale=0.08, size=len(score)), 0, 1)
    result = _judge(y, _binary(score), _binary(noisy))
    assert result.verdict == "inconclusive" and "auroc" in result.failed_endpoints


def test_too_few_cases_is_inconclusive_whatever_the_numbers():
    y, score = _scores(20)
    result = _judge(y, _binary(score), _binary(score))
    assert result.verdict == "inconclusive" and "too few test cases" in result.verdict_reason
    assert "20 'normal'" in result.verdict_reason


def test_auroc_interval_is_the_logit_delong_one_when_enough_cases_are_misranked():
    from medprune.evaluation.auroc_logit import compute_logit_delong_interval
    from medprune.evaluation.delong import paired_components

    y, score = _scores(40, seed=3)
    rng = np.random.default_rng(2)
    other = np.clip(score + rng.normal(scale=0.05, size=len(score)), 0, 1)
    counts = stratified_counts(y, 2000, 0)
    end = compute_endpoint("auroc", y, _binary(score), _binary(other), counts, margin=0.01, alpha=0.05)
    parts = paired_components(y, score, other)
    assert parts.fewest_misranked() >= 10
    assert (end.ci_low, end.ci_high) == pytest.approx(compute_logit_delong_interval(parts, 0.05))
    assert "logit" in end.method


def test_holm_across_candidates_can_turn_a_verdict_inconclusive():
    y, score = _scores(150)
    counts = stratified_counts(y, 2000, 0)
    ends = {"auroc": compute_endpoint("auroc", y, _binary(score), _binary(score), counts, margin=0.01, alpha=0.05)}
    single = decide([ends], primary="auroc", alpha=0.05)[0]
    assert single.verdict == "non-inferior" and single.p_adjusted == single.p_noninferiority
    many = decide([ends] * 3, primary="auroc", alpha=0.05)
    assert all(r.p_adjusted == pytest.approx(min(1, 3 * single.p_noninferiority)) for r in many)


def test_resamples_where_a_metric_is_undefined_are_counted_not_hidden():
    y, score = _scores(40)
    rare = np.where(np.arange(len(y)) == np.flatnonzero(y == 1)[0], 0.99, 0.01)  # one positive call in all
    counts = stratified_counts(y, 2000, 0)
    end = compute_endpoint("ppv", y, _binary(score), _binary(rare), counts, margin=0.05, alpha=0.05)
    # PPV of the candidate is undefined in every resample that leaves out its single positive call
    expected = int(np.sum(counts[:, np.flatnonzero(rare > 0.5)[0]] == 0))
    assert end.dropped_resamples == expected > 0


def test_subgroup_flags_are_judged_on_the_interval_not_the_point_estimate():
    from medprune.validation.subgroups import audit_subgroups

    y, score = _scores(60, seed=4)
    rng = np.random.default_rng(3)
    groups = np.where(rng.uniform(size=len(y)) < 0.15, "small", "large")
    noisy = np.clip(score + rng.normal(scale=0.15, size=len(y)) * (groups == "small"), 0, 1)
    rows = {r["group"]: r for r in audit_subgroups(y, groups, _binary(score), _binary(noisy), margins={"auroc": 0.01},
                                                   alpha=0.05, n_resamples=2000, seed=0, min_cases_per_class=30)}
    small = rows["small"]
    assert small["delta"] < -0.01 < small["ci_high"]  # worse on the point estimate, not shown worse
    assert not small["worse_than_margin"] and small["harm_not_excluded"]
    assert "too few cases to judge" in small["reason"]
    assert not rows["large"]["worse_than_margin"] and rows["large"]["delta"] == 0


def test_the_reason_names_whose_threshold_the_operating_point_was_judged_at():
    from medprune.validation.endpoints import EndpointResult

    worse = EndpointResult("sensitivity", 0.05, 0.9, 0.7, -0.2, -0.3, -0.1, 0.9, "Tango", "inferior", "worse")
    fine = EndpointResult("auroc", 0.01, 0.9, 0.9, 0.0, -0.005, 0.005, 0.001, "DeLong", "non-inferior", "fine")
    ends = {"auroc": fine, "sensitivity": worse}
    assert "sensitivity at the reference threshold" in decide([ends], primary="auroc", alpha=0.05)[0].verdict_reason
    own = decide([ends], primary="auroc", alpha=0.05, own_thresholds=True)[0]
    assert own.verdict == "inferior" and "sensitivity at its own matched threshold" in own.verdict_reason


def test_an_interval_wider_than_twice_the_margin_says_the_cases_are_too_few():
    rng = np.random.default_rng(3)
    y = np.array([1] * 40 + [0] * 200)
    score = np.where(y == 1, 0.7, 0.3) + rng.normal(scale=0.05, size=len(y))
    positives = np.flatnonzero(y == 1)
    reference, candidate = score.copy(), score.copy()
    reference[positives[:6]] = 0.2  # the reference misses six positives ...
    candidate[positives[6:12]] = 0.2  # ... the candidate six others: the same sensitivity, 12 of 40 discordant
    result = _judge(y, _binary(reference), _binary(candidate), margins={"auroc": 0.5, "sensitivity": 0.1},
                    minimum=10)
    sensitivity = result.endpoints["sensitivity"]
    assert sensitivity["delta"] == 0 and sensitivity["verdict"] == "inconclusive"
    assert "40 positive cases are too few to show a margin of 0.1" in sensitivity["reason"]


@pytest.mark.parametrize(("n", "alpha"), [(20, 0.05), (69, 0.05), (229, 0.05), (69, 0.1), (1000, 0.01)])
def test_the_narrowest_interval_of_agreeing_models_is_the_closed_form(n, alpha):
    from medprune.validation.endpoints import narrowest_half_width

    # Tango's statistic with no discordant case solves n * d = z^2 * (1 - d): d = z^2 / (n + z^2)
    z2 = stats.norm.ppf(1 - alpha / 2) ** 2
    assert narrowest_half_width(n, alpha) == pytest.approx(z2 / (n + z2), rel=1e-6)


def test_a_margin_no_agreeing_candidate_could_meet_is_said_plainly():
    # 69 positives (AdrenalMNIST3D's test split): agreeing on every one still gives +/-0.053, wider than 0.05
    y = np.array([1] * 69 + [0] * 229)
    score = np.where(y == 1, 0.7, 0.3)
    score[:30] = 0.2  # the reference misses 30 positives, and so does the candidate: no discordant case
    result = _judge(y, _binary(score), _binary(score.copy()),
                    margins={"auroc": 0.5, "sensitivity": 0.05, "specificity": 0.05}, minimum=10)
    sensitivity, specificity = result.endpoints["sensitivity"], result.endpoints["specificity"]
    assert sensitivity["verdict"] == "inconclusive" and sensitivity["delta"] == 0
    assert "agreed with the reference on all 69 positive cases would get an interval of +/-0.053" in \
        sensitivity["reason"]
    assert specificity["verdict"] == "non-inferior"  # 229 negatives: +/-0.016 is narrower than the margin


def test_a_narrow_inconclusive_interval_does_not_blame_the_sample_size():
    from medprune.validation.endpoints import too_wide

    assert too_wide(-0.06, -0.01, 0.05, 300, "negative cases") == ""
    assert "300 negative cases are too few" in too_wide(-0.08, 0.04, 0.05, 300, "negative cases")


@pytest.mark.parametrize(("p10", "p01"), [(0.06, 0.04), (0.10, 0.10), (0.13, 0.10), (0.20, 0.22)])
def test_cases_for_power_give_the_power_by_simulation(p10, p01):
    from medprune.evaluation.paired_proportions import cases_for_power, tango_statistic

    n = cases_for_power(round(p10 * 1000), round(p01 * 1000), 1000, 0.05, 0.05)
    rng = np.random.default_rng(1)
    z = stats.norm.ppf(0.975)
    shown = [tango_statistic(-0.05, b, c, n) > z for b, c, _ in rng.multinomial(n, [p10, p01, 1 - p10 - p01], 2000)]
    assert np.mean(shown) == pytest.approx(0.80, abs=0.035)  # 2000 simulations: SE 0.009


def test_cases_for_power_of_agreeing_models_is_where_the_interval_clears_the_margin():
    from medprune.evaluation.paired_proportions import cases_for_power
    from medprune.validation.endpoints import narrowest_half_width

    needed = cases_for_power(0, 0, 69, 0.05, 0.05)  # no disagreement: no randomness left, power 1 from there on
    assert narrowest_half_width(needed, 0.05) < 0.05 <= narrowest_half_width(needed - 1, 0.05)
    assert cases_for_power(1, 6, 69, 0.05, 0.05) is None  # delta -0.072 is below -margin: no n is expected to help


def test_an_inconclusive_proportion_says_how_many_cases_would_settle_it():
    y = np.array([1] * 69 + [0] * 229)
    score = np.where(y == 1, 0.7, 0.3)
    reference, candidate = score.copy(), score.copy()
    reference[:5] = 0.2  # five positives only the candidate detects, three only the reference
    candidate[5:8] = 0.2
    result = _judge(y, _binary(reference), _binary(candidate),
                    margins={"auroc": 0.5, "sensitivity": 0.05, "specificity": 0.05}, minimum=10)
    sensitivity = result.endpoints["sensitivity"]
    assert sensitivity["verdict"] == "inconclusive"
    from medprune.evaluation.paired_proportions import cases_for_power
    assert sensitivity["cases_for_power"] == cases_for_power(5, 3, 69, 0.05, 0.05) > 69
    assert f"about {sensitivity['cases_for_power']} positive cases would give 80% power" in sensitivity["reason"]


def test_each_subgroup_is_judged_at_the_operating_point_with_the_endpoints_own_intervals():
    from medprune.validation.subgroups import audit_subgroups

    # 120 women and 120 men, 60 with disease each; the candidate keeps every ranking but misses 25 women with disease
    y = np.tile(np.repeat([1, 0], 60), 2)
    sex = np.repeat(["F", "M"], 120)
    rng = np.random.default_rng(5)
    reference = np.where(y == 1, rng.uniform(0.6, 1.0, len(y)), rng.uniform(0.0, 0.4, len(y)))
    candidate = reference.copy()
    women_with_disease = np.flatnonzero((sex == "F") & (y == 1))[:25]
    candidate[women_with_disease] = 0.45 + reference[women_with_disease] / 100  # below 0.5, still above negatives
    margins = {"auroc": 0.01, "sensitivity": 0.05, "specificity": 0.05}
    rows = {r["group"]: r for r in audit_subgroups(y, sex, _binary(reference), _binary(candidate), margins=margins,
                                                   alpha=0.05, n_resamples=500, seed=0, min_cases_per_class=30)}
    women, men = rows["F"], rows["M"]
    auroc = women["endpoints"]["auroc"]
    assert auroc["delta"] == pytest.approx(0) and women["delta"] == auroc["delta"]
    sens = women["endpoints"]["sensitivity"]
    assert sens["delta"] == pytest.approx(-25 / 60) and sens["ci_high"] < -0.05
    # the subgroup interval is the overall verdict's: Tango's over the group's positive cases
    expected = compute_paired_proportion_difference(np.arange(60) >= 25, np.ones(60, bool), 0.05)
    assert (sens["ci_low"], sens["ci_high"]) == pytest.approx((expected.ci_low, expected.ci_high))
    assert women["worse_than_margin"] and women["worse_endpoints"] == ["sensitivity"]
    assert not men["worse_than_margin"] and men["endpoints"]["sensitivity"]["delta"] == 0


def test_an_endpoint_a_subgroup_cannot_have_is_undefined_not_a_crash():
    from medprune.validation.subgroups import audit_subgroups

    y = np.array([1] * 40 + [0] * 40 + [0] * 20)
    site = np.array(["A"] * 80 + ["B"] * 20)  # site B has no disease
    score = np.where(y == 1, 0.8, 0.2)
    margins = {"auroc": 0.01, "sensitivity": 0.05, "specificity": 0.05}
    with pytest.warns(UserWarning, match="undefined"):
        rows = {r["group"]: r for r in audit_subgroups(y, site, _binary(score), _binary(score), margins=margins,
                                                       alpha=0.05, n_resamples=200, seed=0)}
    b = rows["B"]
    assert b["endpoints"]["sensitivity"]["undefined"] and b["endpoints"]["auroc"]["undefined"]
    assert b["endpoints"]["specificity"]["delta"] == 0 and not b["worse_than_margin"]


def test_auroc_cases_for_power_give_the_power_by_simulation():
    from medprune.evaluation.bootstrap import stratified_counts
    from medprune.validation.endpoints import interval_cases_for_power

    def case(n, rng, mu_candidate, rho=0.9):  # binormal scores, correlated like a pruned model and its reference
        y = np.repeat([0, 1], n)
        ref = rng.normal(size=2 * n)
        cand = rho * ref + np.sqrt(1 - rho ** 2) * rng.normal(size=2 * n)
        ref[y == 1] += 1.5
        cand[y == 1] += mu_candidate
        return y, _binary(1 / (1 + np.exp(-ref))), _binary(1 / (1 + np.exp(-cand)))

    mu_candidate = np.sqrt(2) * stats.norm.ppf(stats.norm.cdf(1.5 / np.sqrt(2)) - 0.004)  # AUROC 0.004 lower
    rng = np.random.default_rng(0)
    y, ref, cand = case(3000, rng, mu_candidate)  # a large pilot: its interval gives the standard error
    pilot = compute_endpoint("auroc", y, ref, cand, stratified_counts(y, 200, 0), margin=0.01, alpha=0.05)
    se = (pilot.delta - pilot.ci_low) / stats.norm.ppf(0.975)
    needed = interval_cases_for_power(len(y), -0.004, -0.004 - stats.norm.ppf(0.975) * se, 0.01, 0.05)
    shown = []
    for i in range(200):
        y, ref, cand = case(needed // 2, rng, mu_candidate)
        end = compute_endpoint("auroc", y, ref, cand, stratified_counts(y, 200, i), margin=0.01, alpha=0.05)
        shown.append(end.ci_low > -0.01)
    assert np.mean(shown) == pytest.approx(0.80, abs=0.08)  # 200 simulations: SE 0.03


def test_harm_shown_on_a_small_test_set_is_inferior_not_inconclusive():
    # 20 + 20 cases, below the minimum of 30 per class: the candidate misses 16 of the reference's 20 detections
    y = np.repeat([1, 0], 20)
    reference = np.where(y == 1, 0.8, 0.2)
    candidate = reference.copy()
    candidate[:16] = 0.4
    result = _judge(y, _binary(reference), _binary(candidate), margins={"auroc": 0.5, "sensitivity": 0.05})
    sensitivity = result.endpoints["sensitivity"]
    assert sensitivity["ci_high"] < -0.05
    assert result.verdict == "inferior" and result.failed_endpoints == ["sensitivity"]
    same = _judge(y, _binary(reference), _binary(reference.copy()))
    assert same.verdict == "inconclusive" and "too few test cases" in same.verdict_reason  # non-inferior needs n


def test_a_subgroup_whose_sensitivity_interval_crosses_the_margin_gets_the_harm_note():
    from medprune.validation.subgroups import audit_subgroups

    # 150 positives and 150 negatives in one group; the candidate keeps every ranking (AUROC unchanged) but
    # misses 7 positives the reference detects: sensitivity -0.047, interval reaching past -0.05
    y = np.repeat([1, 0], 150)
    group = np.array(["all"] * len(y))
    rng = np.random.default_rng(8)
    reference = np.where(y == 1, rng.uniform(0.6, 1.0, len(y)), rng.uniform(0.0, 0.4, len(y)))
    candidate = reference.copy()
    candidate[:7] = 0.45 + reference[:7] / 100
    margins = {"auroc": 0.05, "sensitivity": 0.05, "specificity": 0.05}
    row = audit_subgroups(y, group, _binary(reference), _binary(candidate), margins=margins, alpha=0.05,
                          n_resamples=200, seed=0)[0]
    sensitivity = row["endpoints"]["sensitivity"]
    assert row["endpoints"]["auroc"]["delta"] == 0 and row["ci_low"] > -0.05  # the primary rules harm out
    assert sensitivity["ci_low"] < -0.05 < sensitivity["ci_high"] < 0
    assert row["harm_not_excluded"] and row["harm_endpoints"] == ["sensitivity"] and not row["worse_than_margin"]


def test_choose_threshold_refuses_nan_probabilities_with_a_data_error():
    from medprune.errors import DataError
    from medprune.evaluation.metrics import choose_threshold

    y = np.repeat([0, 1], 10)
    probs = np.linspace(0.05, 0.95, 20)
    probs[3] = np.nan
    with pytest.raises(DataError, match="NaN or infinite values .*case 3"):
        choose_threshold(y, probs)
    with pytest.raises(DataError, match="one probability per case"):
        choose_threshold(y, probs[:5])


def test_an_interval_wholly_below_zero_says_worse_before_any_sample_size_sentence():
    # 156 cases: the candidate is clearly worse than the reference but its interval still contains -margin
    y = np.repeat([1, 0], 78)
    reference = np.where(y == 1, 0.8, 0.2)
    candidate = reference.copy()
    candidate[:9] = 0.4  # 9 positives lost, 1 gained: sensitivity -0.10, interval wholly below 0
    candidate[9:10] = 0.8
    reference[9:10] = 0.4
    result = _judge(y, _binary(reference), _binary(candidate), margins={"auroc": 0.5, "sensitivity": 0.15},
                    minimum=10)
    sensitivity = result.endpoints["sensitivity"]
    assert sensitivity["verdict"] == "inconclusive" and sensitivity["ci_high"] < 0
    assert sensitivity["reason"].startswith("worse than the reference")
    assert "too few" not in sensitivity["reason"]


def test_agreeing_models_are_not_told_about_rates_of_disagreement():
    y = np.array([1] * 69 + [0] * 229)
    score = np.where(y == 1, 0.7, 0.3)
    result = _judge(y, _binary(score), _binary(score.copy()),
                    margins={"auroc": 0.5, "sensitivity": 0.05, "specificity": 0.05}, minimum=10)
    reason = result.endpoints["sensitivity"]["reason"]
    assert "rates of disagreement" not in reason and "the two models agree on all 69 positive cases" in reason


def test_a_margin_for_an_endpoint_that_is_not_judged_is_refused_not_dropped():
    from medprune.errors import ConfigError
    from medprune.validation.protocol import build_protocol

    with pytest.raises(ConfigError, match="--margin gives ppv a margin but ppv is not judged.*--endpoints "
                                          "auroc,sensitivity,specificity,ppv"):
        build_protocol(metric="auroc", margin="auroc=0.02,ppv=0.05").check(2)
    judged = build_protocol(metric="auroc", margin="auroc=0.02,ppv=0.05", endpoints="auroc,ppv").check(2)
    assert judged.margin_for("ppv") == 0.05
