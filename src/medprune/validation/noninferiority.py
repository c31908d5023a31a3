"""The decision rule: co-primary endpoints (intersection-union), Holm across candidates, a minimum n."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from medprune.validation.endpoints import EndpointResult

# Below this many test cases in any class the intervals' error rate is no longer near nominal
# (benchmarks/validation_size.py), so no candidate is called non-inferior; an interval wholly below -margin
# still shows harm, so "inferior" stands at any size.
MIN_CASES_PER_CLASS = 30

RULE = ("each endpoint is judged on the paired difference (candidate - reference) with its two-sided (1 - alpha) "
        "interval: non-inferior when the lower bound lies above -margin, inferior when the upper bound lies below "
        "-margin, inconclusive otherwise. A candidate is non-inferior only when every endpoint is (an "
        "intersection-union test, which needs no correction across endpoints) and its intersection-union p-value "
        "(the largest one-sided endpoint p-value), Holm-adjusted across candidates, is below alpha/2; it is "
        "inferior when any endpoint is inferior; otherwise inconclusive. With fewer test cases than the minimum "
        "in any class no candidate is non-inferior: one shown inferior stays inferior, the others are inconclusive.")


@dataclass(frozen=True)
class NonInferiority:
    """One candidate's verdict over all endpoints; the top-level numbers are the primary endpoint's."""

    metric: str
    margin: float
    reference: float
    candidate: float
    delta: float  # candidate minus reference on the primary endpoint; negative means worse
    ci_low: float
    ci_high: float
    p_noninferiority: float  # intersection-union p: the largest one-sided endpoint p-value
    p_adjusted: float = float("nan")  # Holm-adjusted across candidates
    verdict: str = "inconclusive"  # "non-inferior" | "inferior" | "inconclusive"
    verdict_reason: str = ""
    failed_endpoints: list[str] = field(default_factory=list)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def holm_adjust(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979); they control the family-wise error rate."""
    m = len(p_values)
    order = np.argsort(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def decide(candidates: list[dict[str, EndpointResult]], *, primary: str, alpha: float,
           too_few: str = "", own_thresholds: bool = False) -> list[NonInferiority]:
    """Verdicts of all candidates together.

    Args:
        candidates: per candidate, its endpoint results by name (the primary one among them).
        primary: the endpoint whose numbers are reported at the top level.
        alpha: two-sided error rate; each one-sided test is at alpha / 2.
        too_few: why the test set is too small to judge (empty when it is large enough).
        own_thresholds: each candidate was judged at its own pre-specified threshold, not the reference's.
    """
    iut_p = [max((e.p_noninferiority if np.isfinite(e.p_noninferiority) else 1.0) for e in ends.values())
             for ends in candidates]
    adjusted = holm_adjust(iut_p)
    decided = []
    for ends, p, p_adj in zip(candidates, iut_p, adjusted):
        inferior = [n for n, e in ends.items() if e.verdict == "inferior"]
        unproven = [n for n, e in ends.items() if e.verdict != "non-inferior"]
        if inferior:  # an interval wholly below -margin shows harm at any sample size
            verdict, failed = "inferior", inferior
            reason = "; ".join(f"{_label(n, own_thresholds)}: {ends[n].reason}" for n in inferior)
        elif too_few:  # only "non-inferior" needs the minimum
            verdict, reason, failed = "inconclusive", too_few, unproven
        elif not unproven and p_adj < alpha / 2:
            verdict, failed, reason = "non-inferior", [], "every endpoint's lower bound is above its margin"
        elif unproven:
            verdict, failed = "inconclusive", unproven
            reason = "; ".join(f"{_label(n, own_thresholds)}: {ends[n].reason}" for n in unproven)
        else:
            verdict, failed = "inconclusive", []
            reason = f"Holm-adjusted p {p_adj:.3g} across candidates is not below alpha/2 = {alpha / 2:g}"
        main = ends[primary]
        decided.append(NonInferiority(primary, main.margin, main.reference, main.candidate, main.delta, main.ci_low,
                                      main.ci_high, p, p_adj, verdict, reason, failed,
                                      {n: e.to_dict() for n, e in ends.items()}))
    return decided


def _label(endpoint: str, own_thresholds: bool) -> str:
    if endpoint not in ("sensitivity", "specificity"):
        return endpoint
    return f"{endpoint} at {'its own matched' if own_thresholds else 'the reference'} threshold"


def too_few_cases(y: np.ndarray, class_names: list[str], minimum: int) -> str:
    """Why the test set is too small to judge, or '' when every class has at least `minimum` cases."""
    counts = {name: int(np.sum(y == k)) for k, name in enumerate(class_names)}
    short = {name: n for name, n in counts.items() if n < minimum}
    if not short:
        return ""
    listed = ", ".join(f"{n} '{name}'" for name, n in short.items())
    return (f"too few test cases to judge: {listed}, below the minimum of {minimum} per class at which the intervals "
            "keep their error rate; add test cases (no candidate can be shown non-inferior here; one whose interval "
            "lies wholly below the margin is still inferior)")
