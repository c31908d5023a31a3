"""Non-inferiority decisions with a pre-specified margin, and Holm's correction for several candidates."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from medprune.evaluation.bootstrap import percentile_ci

RULE = ("non-inferior: the Holm-adjusted one-sided bootstrap p-value for H0 'delta <= -margin' is below "
        "alpha/2, which for one candidate is the same as the lower bound of the two-sided (1 - alpha) CI "
        "of delta lying above -margin; inferior: the upper bound of that CI lies below -margin (the "
        "candidate is worse by more than the margin); inconclusive: otherwise (the CI contains -margin)")


@dataclass(frozen=True)
class NonInferiority:
    metric: str
    margin: float
    reference: float
    candidate: float
    delta: float  # candidate minus reference; negative means worse
    ci_low: float
    ci_high: float
    p_noninferiority: float  # one-sided, H0: delta <= -margin
    p_adjusted: float = float("nan")  # Holm-adjusted across candidates
    verdict: str = "inconclusive"  # "non-inferior" | "inferior" | "inconclusive"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(metric: str, margin: float, reference: float, candidate: float, ref_samples: np.ndarray,
            cand_samples: np.ndarray, alpha: float) -> NonInferiority:
    """Paired bootstrap comparison (before the multiplicity correction)."""
    deltas = cand_samples - ref_samples
    finite = deltas[np.isfinite(deltas)]
    low, high = percentile_ci(finite, alpha)
    p = float((1 + np.sum(finite <= -margin)) / (len(finite) + 1)) if len(finite) else float("nan")
    return NonInferiority(metric, margin, reference, candidate, candidate - reference, low, high, p)


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


def decide(results: list[NonInferiority], alpha: float) -> list[NonInferiority]:
    """Apply Holm's correction and the verdict rule to all candidates together."""
    adjusted = holm_adjust([r.p_noninferiority for r in results])
    decided = []
    for r, p_adj in zip(results, adjusted):
        if p_adj < alpha / 2:
            verdict = "non-inferior"
        elif r.ci_high < -r.margin:
            verdict = "inferior"
        else:
            verdict = "inconclusive"
        decided.append(NonInferiority(**{**r.to_dict(), "p_adjusted": p_adj, "verdict": verdict}))
    return decided
