"""Score interval and test for the difference of two paired proportions (Tango 1998).

Sensitivity and specificity of two models at a fixed threshold are paired proportions: the same
positive (or negative) cases are judged by both. Tango's score interval keeps its coverage at small n
and, unlike a bootstrap, does not collapse to (0, 0) when the two models never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

_EDGE = 1e-9


@dataclass(frozen=True)
class PairedProportionDifference:
    """candidate - reference difference of paired proportions, with Tango's score interval."""

    n: int
    candidate_only: int  # cases only the candidate got right (hit)
    reference_only: int  # cases only the reference got right
    delta: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tango_statistic(delta0: float, candidate_only: int, reference_only: int, n: int) -> float:
    """Tango's score statistic for H0: p_candidate - p_reference = delta0.

    The nuisance parameter (the share of cases only the reference gets right) is replaced by its
    maximum-likelihood estimate under H0, a root of a quadratic (Tango 1998, eq. 3).
    """
    b, c = candidate_only, reference_only
    w = b * (1 + delta0) + c * (1 - delta0) - 2 * n * delta0
    q21 = (w + np.sqrt(max(w * w + 8 * n * c * delta0 * (1 - delta0), 0.0))) / (4 * n)
    var = n * (2 * q21 + delta0 * (1 - delta0))
    numerator = b - c - n * delta0
    if var <= 0:
        return 0.0 if numerator == 0 else float(np.sign(numerator) * np.inf)
    return float(numerator / np.sqrt(var))


def compute_paired_proportion_difference(candidate_hit: np.ndarray, reference_hit: np.ndarray,
                                         alpha: float) -> PairedProportionDifference:
    """Difference of two paired proportions with Tango's (1 - alpha) score interval.

    Args:
        candidate_hit, reference_hit: boolean per case (e.g. "detected" for each positive case).
        alpha: two-sided error rate of the interval.
    """
    candidate_hit, reference_hit = np.asarray(candidate_hit, bool), np.asarray(reference_hit, bool)
    n = len(candidate_hit)
    b = int(np.sum(candidate_hit & ~reference_hit))
    c = int(np.sum(~candidate_hit & reference_hit))
    if n == 0:
        return PairedProportionDifference(0, 0, 0, float("nan"), float("nan"), float("nan"))
    delta = (b - c) / n
    z = float(stats.norm.ppf(1 - alpha / 2))
    return PairedProportionDifference(n, b, c, delta, _bound(delta, b, c, n, z, lower=True),
                                      _bound(delta, b, c, n, z, lower=False))


def _bound(delta: float, b: int, c: int, n: int, z: float, *, lower: bool) -> float:
    # The statistic falls as delta0 rises; each bound is where it crosses +z (lower) or -z (upper).
    edge, target = (-1.0, z) if lower else (1.0, -z)
    if delta == edge:
        return edge
    inner = edge + _EDGE if lower else edge - _EDGE
    f = lambda d: tango_statistic(d, b, c, n) - target  # noqa: E731
    if (f(inner) <= 0) if lower else (f(inner) >= 0):
        return edge  # too few cases: the interval reaches the end of the range
    low, high = (inner, delta) if lower else (delta, inner)
    return float(optimize.brentq(f, low, high, xtol=1e-10))


def paired_proportion_p_value(candidate_hit: np.ndarray, reference_hit: np.ndarray, margin: float) -> float:
    """One-sided score p-value for H0: candidate - reference <= -margin (non-inferiority test)."""
    candidate_hit, reference_hit = np.asarray(candidate_hit, bool), np.asarray(reference_hit, bool)
    n = len(candidate_hit)
    if n == 0:
        return float("nan")
    b = int(np.sum(candidate_hit & ~reference_hit))
    c = int(np.sum(~candidate_hit & reference_hit))
    return float(stats.norm.sf(tango_statistic(-margin, b, c, n)))


def cases_for_power(candidate_only: int, reference_only: int, n: int, margin: float, alpha: float,
                    power: float = 0.8) -> int | None:
    """Cases a study needs for `power` to show non-inferiority (lower bound above -margin) if the rates of
    disagreement seen here (candidate_only / n, reference_only / n) are the true ones; None when the difference
    seen is not above -margin, so that no number of cases would be expected to show it.

    Nam's (1997) normal approximation for the score test: n = (z_a sqrt(V0) + z_b sqrt(V1))^2 / (delta + margin)^2,
    V0 the per-case variance under the null (Tango's restricted estimate), V1 the variance at the rates seen.
    """
    if n == 0:
        return None
    p10, p01 = candidate_only / n, reference_only / n
    delta, delta0 = p10 - p01, -margin
    if delta <= delta0:
        return None
    w = p10 * (1 + delta0) + p01 * (1 - delta0) - 2 * delta0  # Tango's quadratic, per case
    q21 = (w + np.sqrt(max(w * w + 8 * p01 * delta0 * (1 - delta0), 0.0))) / 4
    v0, v1 = 2 * q21 + delta0 * (1 - delta0), p10 + p01 - delta * delta
    z_a, z_b = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    return int(np.ceil((z_a * np.sqrt(v0) + z_b * np.sqrt(max(v1, 0.0))) ** 2 / (delta - delta0) ** 2))
