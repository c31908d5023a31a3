"""Endpoints of a non-inferiority comparison: the paired delta, its interval and one-sided p-value.

Each endpoint uses the interval whose error rate stays near nominal at small n
(`benchmarks/validation_size.py` measures it):
- binary AUROC: DeLong's paired test (DeLong et al. 1988) inverted on the logit scale (`auroc_logit`),
  widened by a MOVER interval built from Newcombe's score intervals (2006) when few cases are misranked:
  DeLong's variance collapses to 0 when both models separate the sample perfectly, which a good model
  often does at small n; the score intervals do not;
- sensitivity, specificity and accuracy at a fixed threshold: Tango's (1998) score interval for
  paired proportions, which keeps its coverage at small n and near 0 or 1;
- everything else (PPV, NPV, balanced accuracy, multi-class rates): the paired bootstrap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from medprune.evaluation.bootstrap import percentile_ci
from medprune.evaluation.auroc_mover import compute_paired_auroc_mover, mover_p_value
from medprune.evaluation.auroc_logit import compute_logit_delong_interval, logit_delong_p_value
from medprune.evaluation.delong import PairedComponents, paired_components
from medprune.evaluation.paired_proportions import (cases_for_power, compute_paired_proportion_difference,
                                                     paired_proportion_p_value)
from medprune.validation.paired_metrics import PAIRED_METRICS, Predictions

METHODS = {
    "auroc": "paired DeLong test inverted on the logit scale, Student-t quantile with Satterthwaite degrees of "
             "freedom over the misranked cases; widened by the MOVER interval (Newcombe score intervals per AUROC, "
             "combined by Zou & Donner) when fewer than 10 cases of a class are misranked (binary); paired "
             "stratified bootstrap percentile (multi-class macro AUROC)",
    "sensitivity": "Tango's score interval for paired proportions over the positive cases (binary); "
                   "paired stratified bootstrap percentile (multi-class macro recall)",
    "specificity": "Tango's score interval for paired proportions over the negative cases (binary); "
                   "paired stratified bootstrap percentile (multi-class)",
    "accuracy": "Tango's score interval for paired proportions over all cases",
}
BOOTSTRAP_METHOD = "paired stratified bootstrap percentile"
# Below this many misranked cases in a class (positives not above every negative, or negatives not below
# every positive, by either model), DeLong's variance rests on too few discordant pairs and understates
# the uncertainty (it collapses to 0 when the sample is perfectly separated); the MOVER interval joins,
# unless the candidate's outputs equal the reference's on every case (then the difference is exactly 0).
FEW_MISRANKED = 10
# Which cases each binary rate is a proportion of, as (hit, member) given the truth and a prediction.
_PROPORTIONS = {
    "sensitivity": lambda y, pred: (pred == 1, y == 1),
    "specificity": lambda y, pred: (pred == 0, y == 0),
    "accuracy": lambda y, pred: (pred == y, np.ones_like(y, dtype=bool)),
}
_CASES = {"sensitivity": "positive cases", "specificity": "negative cases"}  # the cases a proportion is over


def too_wide(ci_low: float, ci_high: float, margin: float, n_cases: int, cases: str) -> str:
    """Said of an inconclusive interval wider than twice the margin: even a candidate that matched the reference
    exactly on average could not be shown non-inferior on these cases with this much disagreement."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)) or (ci_high - ci_low) / 2 <= margin:
        return ""
    return (f"; the interval is {ci_high - ci_low:.3f} wide, more than twice the margin: {n_cases} {cases} are too "
            f"few to show a margin of {margin:g} while the two models disagree this often")


def narrowest_half_width(n_cases: int, alpha: float) -> float:
    """Half-width of the interval of a candidate that agrees with the reference on every one of `n_cases`
    (Tango's interval with no discordant case, z^2 / (n + z^2)): no paired proportion on these cases has a
    narrower one. When it is not below the margin, only a candidate right on more cases than the reference can
    be shown non-inferior."""
    same = np.ones(n_cases, dtype=bool)
    return compute_paired_proportion_difference(same, same, alpha).ci_high


def too_few_to_agree(margin: float, n_cases: int, cases: str, alpha: float) -> str:
    """Said of an inconclusive proportion endpoint whose margin no agreeing candidate could meet on these cases."""
    if n_cases == 0 or (half := narrowest_half_width(n_cases, alpha)) < margin:
        return ""
    return (f"; even a candidate that agreed with the reference on all {n_cases} {cases} would get an interval of "
            f"+/-{half:.3f}, wider than the margin {margin:g}: on this test set only a candidate right on more "
            f"{cases} than the reference can be shown non-inferior")


def interval_cases_for_power(n_cases: int, delta: float, ci_low: float, margin: float, alpha: float,
                             power: float = 0.8) -> int | None:
    """Test cases (at the same class mix) for `power` to show non-inferiority if the delta seen is the true one,
    from the standard error the interval's lower half implies (it shrinks as 1 / sqrt(n)): the usual normal
    approximation, n * ((z_a + z_b) * se / (delta + margin))^2. None when delta is not above -margin or the
    interval has no width."""
    z_a, z_b = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    se = (delta - ci_low) / z_a
    if not (np.isfinite(se) and se > 0 and delta > -margin):
        return None
    return int(np.ceil(n_cases * ((z_a + z_b) * se / (delta + margin)) ** 2))


@dataclass(frozen=True)
class EndpointResult:
    """One endpoint of one candidate: values, paired delta with its (1 - alpha) CI, one-sided p."""

    name: str
    margin: float
    reference: float
    candidate: float
    delta: float  # candidate minus reference; negative means worse
    ci_low: float
    ci_high: float
    p_noninferiority: float  # one-sided, H0: delta <= -margin
    method: str
    verdict: str = "inconclusive"
    reason: str = ""
    dropped_resamples: int = 0  # bootstrap resamples where the metric was undefined
    # cases a test set needs for 80% power to show non-inferiority if what was seen here is the truth: of the
    # judged class for sensitivity / specificity (Nam's formula), all test cases at this class mix otherwise;
    # None when the delta is not above -margin
    cases_for_power: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def endpoint_verdict(ci_low: float, ci_high: float, margin: float) -> tuple[str, str]:
    """The verdict on one endpoint from its interval, with the reason in words."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "inconclusive", "the difference could not be estimated on these cases"
    if ci_low > -margin:
        return "non-inferior", f"lower bound {ci_low:+.4f} is above -{margin:g}"
    if ci_high < -margin:
        return "inferior", f"upper bound {ci_high:+.4f} is below -{margin:g}: worse by more than the margin"
    if ci_high < 0:
        return "inconclusive", (f"worse than the reference: the interval {ci_low:+.4f} to {ci_high:+.4f} lies wholly "
                                f"below 0, and contains -{margin:g}, so it is not shown worse by more than the margin")
    return "inconclusive", f"interval {ci_low:+.4f} to {ci_high:+.4f} contains -{margin:g}"


def compute_endpoint(name: str, y: np.ndarray, reference: Predictions, candidate: Predictions, counts: np.ndarray,
                     *, margin: float, alpha: float) -> EndpointResult:
    """Paired comparison of the two models on one endpoint (before any multiplicity correction)."""
    fn = PAIRED_METRICS.get(name)
    ones = np.ones((1, len(y)), dtype=np.float32)
    ref_value, cand_value = float(fn(y, reference, ones)[0]), float(fn(y, candidate, ones)[0])
    binary = reference.probs.shape[1] == 2
    dropped, needed, agree = 0, None, False
    if binary and name in _PROPORTIONS:
        cand_hit, member = _PROPORTIONS[name](y, candidate.predicted)
        n_cases = int(member.sum())
        ref_hit, _ = _PROPORTIONS[name](y, reference.predicted)
        diff = compute_paired_proportion_difference(cand_hit[member], ref_hit[member], alpha)
        low, high, method = diff.ci_low, diff.ci_high, METHODS[name]
        p = paired_proportion_p_value(cand_hit[member], ref_hit[member], margin)
        needed = cases_for_power(diff.candidate_only, diff.reference_only, n_cases, margin, alpha)
        agree = diff.candidate_only == diff.reference_only == 0
    elif binary and name == "auroc":
        n_cases = len(y)
        low, high, p = compute_auroc_difference(y, reference.scores, candidate.scores, margin, alpha)
        method = METHODS["auroc"]
    else:
        n_cases = len(y)
        deltas = fn(y, candidate, counts) - fn(y, reference, counts)
        finite = deltas[np.isfinite(deltas)]
        dropped = int(len(deltas) - len(finite))
        low, high = percentile_ci(finite, alpha)
        p = float((1 + np.sum(finite <= -margin)) / (len(finite) + 1)) if len(finite) else float("nan")
        method = BOOTSTRAP_METHOD
    if not (binary and name in _PROPORTIONS):
        needed = interval_cases_for_power(n_cases, cand_value - ref_value, low, margin, alpha)
    verdict, reason = endpoint_verdict(low, high, margin)
    if verdict == "inconclusive":
        cases = _CASES.get(name, "test cases")
        proportion = binary and name in _PROPORTIONS
        if high >= 0:  # a candidate shown worse is not blamed on the sample size
            said = too_few_to_agree(margin, n_cases, cases, alpha) if proportion else ""
            reason += said or too_wide(low, high, margin, n_cases, cases)
        if needed is not None:
            if agree:
                reason += (f"; the two models agree on all {n_cases} {cases}: a test set of about {needed} {cases} "
                           f"would give a candidate that agrees this well 80% power to show the margin")
            else:
                seen = "rates of disagreement" if proportion else "difference and its uncertainty"
                reason += (f"; if the {seen} seen here are the true ones, about {needed} {cases} would give 80% power "
                           f"to show it within the margin")
    return EndpointResult(name, margin, ref_value, cand_value, cand_value - ref_value, float(low), float(high),
                          float(p), method, verdict, reason, dropped, needed)


def compute_auroc_difference(y: np.ndarray, reference: np.ndarray | list[np.ndarray],
                             candidate: np.ndarray | list[np.ndarray], margin: float,
                             alpha: float) -> tuple[float, float, float]:
    """(low, high, one-sided p) of the paired difference of two binary AUROCs, or of their means over several
    conditions on the same cases (lists of scores, e.g. the severities of one corruption): DeLong's test inverted
    on the logit scale, widened by the MOVER interval when few cases are misranked (both are needed near 1, where
    DeLong's variance rests on those few cases and vanishes at perfect separation)."""
    references = reference if isinstance(reference, list) else [reference]
    candidates = candidate if isinstance(candidate, list) else [candidate]
    if all(np.array_equal(r, c) for r, c in zip(references, candidates)):
        return 0.0, 0.0, 0.0 if margin > 0 else 1.0  # the same function on every case: the difference is 0
    parts = PairedComponents.mean([paired_components(y, r, c) for r, c in zip(references, candidates)])
    low, high = compute_logit_delong_interval(parts, alpha)
    p = logit_delong_p_value(parts, margin)
    if parts.fewest_misranked() < FEW_MISRANKED or not np.isfinite(low):
        ref_value, cand_value = parts.aurocs
        n_pos, n_neg, r = parts.v10.shape[1], parts.v01.shape[1], parts.correlation()
        m_low, m_high = compute_paired_auroc_mover(ref_value, cand_value, n_pos, n_neg, r, alpha)
        m_p = mover_p_value(ref_value, cand_value, n_pos, n_neg, r, margin)
        low, high = float(np.fmin(low, m_low)), float(np.fmax(high, m_high))
        p = float(np.fmax(p, m_p))
    return low, high, p
