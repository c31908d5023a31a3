"""Non-inferiority of a compressed segmentation model, paired on the same test cases.

Co-primary endpoints, by default:
- mean Dice of each structure: the paired difference (candidate - reference) must have its lower bound above
  -margin (0.02);
- HD95 of each structure (mm): the median paired difference must have its upper bound below +margin (1 mm), as
  a larger distance is worse. HD95 differences are heavy-tailed (a few cases jump by many mm); judged on the
  mean, with any of the intervals below, "non-inferior" came twice as often as it should at 40 and 80 cases, so
  the typical case is judged (exact sign-test interval of the median), and the safety endpoint catches the cases
  that fail badly;
- safety: the share of cases whose Dice falls by more than 0.10 against the reference's on any structure (a
  worst-case endpoint a mean hides). The reference never falls against itself, so the paired difference of
  "cases that kept their Dice" is the candidate's share; Tango's score interval must show it is not more than
  0.05 below the reference's 1.

A mean difference gets the wider of two intervals, the paired Student t and the studentized (bootstrap-t)
paired bootstrap; its one-sided p-value is the larger of the two tests'. Per-case Dice losses are skewed (most
cases lose nothing, a few lose much), and there the t interval alone said "non-inferior" 10 % of the time at 20
cases with the candidate exactly one margin worse, and widening it to the percentile bootstrap's did not help; the
bootstrap-t corrects for the skew (benchmarks/validation_size.py). The decision rule (every endpoint, Holm across
candidates, a minimum of test cases) is the classification one, `noninferiority.decide`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from medprune.evaluation.paired_proportions import compute_paired_proportion_difference, paired_proportion_p_value
from medprune.evaluation.segmentation import CaseMetrics
from medprune.validation.endpoints import EndpointResult, endpoint_verdict, narrowest_half_width
from medprune.validation.noninferiority import NonInferiority, decide

# Below this many test cases the paired intervals' error rate drifts from nominal on skewed Dice losses
# (benchmarks/validation_size.py measures it at 20, 40 and 80 cases), so no candidate is called non-inferior.
MIN_SEGMENTATION_CASES = 40
MEAN_METHOD = ("the wider of the paired Student t interval and the studentized paired bootstrap (bootstrap-t) "
               "interval over cases; p-value the larger of the two one-sided tests")
MEDIAN_METHOD = ("median of the paired differences with its exact distribution-free interval (order statistics of "
                 "the sign test); p-value the one-sided sign test")
SAFETY_METHOD = ("Tango's score interval for paired proportions: cases that kept their Dice (fell by at most the "
                 "allowed fall on every structure), candidate against the reference (all of them)")


@dataclass(frozen=True)
class SegmentationMargins:
    dice: float = 0.02
    hd95_mm: float = 1.0
    dice_fall: float = 0.10  # a case "falls" when its Dice drops by more than this on any structure
    fall_share: float = 0.05  # the share of falling cases that may not be exceeded

    def to_dict(self) -> dict[str, float]:
        return {"dice": self.dice, "hd95_mm": self.hd95_mm, "dice_fall": self.dice_fall,
                "fall_share": self.fall_share}


def paired_mean_interval(differences: np.ndarray, alpha: float, n_resamples: int,
                         seed: int) -> tuple[float, float, np.ndarray]:
    """The wider of the paired t and the bootstrap-t (1 - alpha) intervals of the mean difference, with the
    bootstrap's studentized resamples t* = (mean* - mean) / se* (for its p-value)."""
    d = np.asarray(differences, dtype=float)
    n = len(d)
    if n < 2:
        return float("-inf"), float("inf"), np.zeros(0)
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(n))
    if se == 0:  # every case changed by the same amount (often: not at all)
        return mean, mean, np.zeros(0)
    half = float(stats.t.ppf(1 - alpha / 2, n - 1) * se)
    resamples = d[np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))]
    spread = resamples.std(1, ddof=1) / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        studentized = (resamples.mean(1) - mean) / spread
    studentized = studentized[np.isfinite(studentized)]  # a resample of one repeated case has no spread
    low_q, high_q = np.quantile(studentized, [alpha / 2, 1 - alpha / 2])
    return min(mean - half, mean - float(high_q) * se), max(mean + half, mean - float(low_q) * se), studentized


def _mean_endpoint(name: str, ref: np.ndarray, cand: np.ndarray, margin: float, alpha: float, n_resamples: int,
                   seed: int) -> EndpointResult:
    """Mean Dice: the mean per-case change must be shown above -margin."""
    d = cand - ref
    low, high, studentized = paired_mean_interval(d, alpha, n_resamples, seed)
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
    if se > 0:  # one-sided tests of H0: the candidate is worse by the margin or more
        statistic = (d.mean() + margin) / se
        p_t = float(stats.t.sf(statistic, len(d) - 1))
        p_boot = float(np.mean(studentized >= statistic)) if len(studentized) else p_t
    else:
        p_t = p_boot = float(d.mean() <= -margin)
    verdict, reason = endpoint_verdict(low, high, margin)
    return EndpointResult(name, margin, float(ref.mean()), float(cand.mean()), float(d.mean()), low, high,
                          max(p_t, p_boot), MEAN_METHOD, verdict, reason)


def paired_median_interval(differences: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """Median of the paired differences and its exact (1 - alpha) interval [d_(r), d_(n-r+1)], r the largest rank
    with P(Binomial(n, 1/2) <= r - 1) <= alpha / 2; (-inf, inf) when n is too small for any."""
    d = np.sort(np.asarray(differences, dtype=float))
    n = len(d)
    r = int(stats.binom.ppf(alpha / 2, n, 0.5))  # P(X <= r) >= alpha / 2: step down until P(X <= r - 1) fits
    while r >= 1 and stats.binom.cdf(r - 1, n, 0.5) > alpha / 2:
        r -= 1
    if r < 1:
        return float(np.median(d)) if n else float("nan"), float("-inf"), float("inf")
    return float(np.median(d)), float(d[r - 1]), float(d[n - r])


def _median_distance_endpoint(name: str, ref: np.ndarray, cand: np.ndarray, margin: float,
                              alpha: float, unit: str) -> EndpointResult:
    """HD95: the median per-case increase must be shown below +margin (in `unit`: mm, or px without a spacing)."""
    d = cand - ref
    median, low, high = paired_median_interval(d, alpha)
    below = int(np.sum(d < margin))
    untied = int(np.sum(d != margin))
    p = float(stats.binom.sf(below - 1, untied, 0.5)) if untied else 1.0  # H0: median increase >= margin
    verdict, reason = _distance_verdict(low, high, margin, unit)
    return EndpointResult(name, margin, float(np.median(ref)), float(np.median(cand)), median, low, high, p,
                          MEDIAN_METHOD, verdict, reason)


def _distance_verdict(low: float, high: float, margin: float, unit: str) -> tuple[str, str]:
    """endpoint_verdict for a distance, where larger is worse: the interval is judged against +margin."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive", "the difference could not be estimated on these cases"
    if high < margin:
        return "non-inferior", f"upper bound {high:+.2f} {unit} is below +{margin:g} {unit}"
    if low > margin:
        return "inferior", (f"lower bound {low:+.2f} {unit} is above +{margin:g} {unit}: farther by more than the "
                            "margin")
    return "inconclusive", f"interval {low:+.2f} to {high:+.2f} {unit} contains +{margin:g} {unit}"


def safety_cases_needed(fall_share: float, alpha: float) -> int:
    """The fewest test cases on which a candidate with no falling case can be shown non-inferior on the safety
    endpoint: Tango's interval of 0 discordant of n reaches z^2 / (n + z^2), below `fall_share` once n exceeds
    z^2 (1 - fall_share) / fall_share."""
    z2 = stats.norm.ppf(1 - alpha / 2) ** 2
    return int(np.floor(z2 * (1 - fall_share) / fall_share)) + 1


def too_few_for_safety(margins: SegmentationMargins, n_cases: int, alpha: float) -> str:
    """Said of an inconclusive safety endpoint that no candidate could pass on this many test cases (the reference
    never falls against itself, so no candidate can do better than keep every case)."""
    needed = safety_cases_needed(margins.fall_share, alpha)
    if n_cases >= needed:
        return ""
    half = narrowest_half_width(n_cases, alpha)
    return (f"; no candidate can be shown non-inferior on this endpoint with {n_cases} test cases: even one on which "
            f"no case falls by {margins.dice_fall:g} Dice gets an interval of +/-{half:.3f}, wider than "
            f"{margins.fall_share:g}; it needs at least {needed} test cases (or a wider pre-specified fall_share)")


def _safety_endpoint(ref: CaseMetrics, cand: CaseMetrics, margins: SegmentationMargins,
                     alpha: float) -> EndpointResult:
    kept = ~((ref.dice - cand.dice) > margins.dice_fall).any(axis=1)
    everyone = np.ones_like(kept)
    interval = compute_paired_proportion_difference(kept, everyone, alpha)
    verdict, reason = endpoint_verdict(interval.ci_low, interval.ci_high, margins.fall_share)
    if verdict == "inconclusive":
        reason += too_few_for_safety(margins, len(kept), alpha)
    return EndpointResult(f"cases kept within {margins.dice_fall:g} Dice", margins.fall_share, 1.0,
                          float(kept.mean()), interval.delta, interval.ci_low, interval.ci_high,
                          paired_proportion_p_value(kept, everyone, margins.fall_share), SAFETY_METHOD, verdict, reason)


def segmentation_endpoints(ref: CaseMetrics, cand: CaseMetrics, *, margins: SegmentationMargins, alpha: float,
                           n_resamples: int, seed: int, unit: str = "mm") -> dict[str, EndpointResult]:
    """Every co-primary endpoint of one candidate, keyed `dice:STRUCTURE`, `hd95:STRUCTURE` and `safety`.

    `unit` is the distances' unit: mm, or px for images stored without a pixel size."""
    if ref.dice.shape != cand.dice.shape:
        raise ValueError("the candidate was scored on other cases than the reference")
    ends: dict[str, EndpointResult] = {}
    for s, structure in enumerate(ref.structures):
        ends[f"dice:{structure}"] = _mean_endpoint(f"dice:{structure}", ref.dice[:, s], cand.dice[:, s], margins.dice,
                                                   alpha, n_resamples, seed)
        ends[f"hd95:{structure}"] = _median_distance_endpoint(f"hd95:{structure}", ref.hd95[:, s], cand.hd95[:, s],
                                                              margins.hd95_mm, alpha, unit)
    ends["safety"] = _safety_endpoint(ref, cand, margins, alpha)
    return ends


def judge_segmentation(ref: CaseMetrics, candidates: dict[str, CaseMetrics], *, margins: SegmentationMargins,
                       alpha: float = 0.05, n_resamples: int = 2000, seed: int = 0,
                       min_cases: int = MIN_SEGMENTATION_CASES, unit: str = "mm") -> list[NonInferiority]:
    """Verdicts of all candidates: every endpoint, Holm across candidates, inconclusive below `min_cases`."""
    n = len(ref.dice)
    too_few = (f"only {n} test cases, fewer than the {min_cases} below which the intervals' error rate is not "
               "near nominal: no candidate can be called non-inferior; test on more cases") if n < min_cases else ""
    ends = [segmentation_endpoints(ref, c, margins=margins, alpha=alpha, n_resamples=n_resamples, seed=seed,
                                   unit=unit) for c in candidates.values()]
    return decide(ends, primary=f"dice:{ref.structures[0]}", alpha=alpha, too_few=too_few)


def bland_altman(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Bias (mean of a - b) and 95% limits of agreement (bias +/- 1.96 SD) of two measurements of the same cases."""
    d = np.asarray(a, float) - np.asarray(b, float)
    bias, sd = float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else 0.0
    return {"bias": bias, "sd": sd, "low": bias - 1.96 * sd, "high": bias + 1.96 * sd, "n": int(len(d)),
            "mean": ((np.asarray(a) + np.asarray(b)) / 2).tolist(), "difference": d.tolist()}
