"""An interval for the difference of two paired AUROCs that stays honest when both are near 1.

With a good model and a small test set both AUROCs are often exactly 1 on the sample: DeLong's variance
and every bootstrap resample are then 0 and the interval collapses to (0, 0), although the true
AUROCs may differ. Here each AUROC gets a score interval built on the Hanley-McNeil variance as a
function of the true AUROC (Newcombe 2006, "Confidence intervals for an effect size measure based on
the Mann-Whitney statistic. Part 2", method 5), which does not collapse at 1, and the two are combined
for the paired difference by MOVER (Zou & Donner 2008) with the correlation of the two estimates from
DeLong's covariance (taken as 0, the cautious value, where that covariance is undefined).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats


def hanley_mcneil_variance(theta: float, n_pos: int, n_neg: int) -> float:
    """Variance of the AUROC estimate when the true AUROC is `theta` (Hanley & McNeil 1982), with both
    class sizes replaced by their mean as in Newcombe's method 5."""
    k = (n_pos + n_neg) / 2 - 1
    return theta * (1 - theta) * (1 + k * (1 - theta) / (2 - theta) + k * theta / (1 + theta)) / (n_pos * n_neg)


def compute_auroc_score_interval(auroc: float, n_pos: int, n_neg: int, alpha: float) -> tuple[float, float]:
    """The AUROCs theta with (auroc - theta)^2 <= z^2 * V(theta): a score interval inside [0, 1]."""
    z = stats.norm.ppf(1 - alpha / 2)

    def f(theta: float) -> float:
        return (auroc - theta) ** 2 - z * z * hanley_mcneil_variance(theta, n_pos, n_neg)

    # f is negative just inside the estimate (V > 0 there) and the bounds are where it turns positive; at an
    # estimate of exactly 0 or 1, V vanishes at the estimate itself, so the search starts just inside it.
    inner_low, inner_high = min(auroc, 1 - 1e-9), max(auroc, 1e-9)
    low = 0.0 if f(0.0) <= 0 else inner_low if f(inner_low) >= 0 else optimize.brentq(f, 0.0, inner_low, xtol=1e-12)
    high = 1.0 if f(1.0) <= 0 else inner_high if f(inner_high) >= 0 else optimize.brentq(f, inner_high, 1.0,
                                                                                              xtol=1e-12)
    return float(min(low, auroc)), float(max(high, auroc))


def compute_mover_difference(reference: float, reference_ci: tuple[float, float], candidate: float,
                             candidate_ci: tuple[float, float], correlation: float) -> tuple[float, float]:
    """MOVER interval of candidate - reference from each estimate's own interval (Zou & Donner 2008)."""
    r = 0.0 if not math.isfinite(correlation) else float(np.clip(correlation, -1, 1))
    delta = candidate - reference
    below_c, above_c = candidate - candidate_ci[0], candidate_ci[1] - candidate
    below_r, above_r = reference - reference_ci[0], reference_ci[1] - reference
    low = delta - math.sqrt(max(below_c ** 2 + above_r ** 2 - 2 * r * below_c * above_r, 0.0))
    high = delta + math.sqrt(max(above_c ** 2 + below_r ** 2 - 2 * r * above_c * below_r, 0.0))
    return low, high


def compute_paired_auroc_mover(reference: float, candidate: float, n_pos: int, n_neg: int, correlation: float,
                               alpha: float) -> tuple[float, float]:
    """(low, high) of candidate - reference at two-sided level 1 - alpha."""
    return compute_mover_difference(reference, compute_auroc_score_interval(reference, n_pos, n_neg, alpha), candidate,
                                    compute_auroc_score_interval(candidate, n_pos, n_neg, alpha), correlation)


def mover_p_value(reference: float, candidate: float, n_pos: int, n_neg: int, correlation: float,
                  margin: float) -> float:
    """One-sided p for H0: candidate - reference <= -margin: half the two-sided alpha at which the MOVER lower
    bound meets -margin (the interval's own test)."""
    def lower(alpha: float) -> float:
        return compute_paired_auroc_mover(reference, candidate, n_pos, n_neg, correlation, alpha)[0] + margin

    if lower(1 - 1e-9) <= 0:
        return 1.0
    if lower(1e-12) > 0:
        return 0.0
    return float(optimize.brentq(lower, 1e-12, 1 - 1e-9, xtol=1e-12) / 2)
