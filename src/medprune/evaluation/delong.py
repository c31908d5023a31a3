"""DeLong's AUROC variance and paired test (DeLong, DeLong & Clarke-Pearson 1988), with the fast
structural components of Sun & Xu (2014): midranks instead of all positive-negative pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats


def _midranks(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, method="average")


def structural_components(y_true: np.ndarray, y_score: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(AUROC, V10 per positive, V01 per negative).

    V10_i is the share of negatives ranked below positive i (ties count half); V01_j the share of
    positives ranked above negative j.
    """
    y_true = np.asarray(y_true).astype(bool)
    pos, neg = y_score[y_true], y_score[~y_true]
    m, n = len(pos), len(neg)
    all_ranks = _midranks(np.concatenate([pos, neg]))
    pos_ranks, neg_ranks = _midranks(pos), _midranks(neg)
    v10 = (all_ranks[:m] - pos_ranks) / n
    v01 = 1 - (all_ranks[m:] - neg_ranks) / m
    return float(v10.mean()), v10, v01


@dataclass(frozen=True)
class DelongComparison:
    auroc_reference: float
    auroc_candidate: float
    delta: float  # candidate - reference
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float  # two-sided, H0: equal AUROC
    correlation: float  # of the two AUROC estimates (nan where a variance is 0)
    # Over both models and both classes, the fewest cases not perfectly ranked (positives not above every
    # negative, negatives not below every positive): DeLong's variance rests on these cases alone.
    fewest_misranked: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PairedComponents:
    """DeLong's structural components of two models' scores on the same cases (row 0 reference, row 1 candidate).

    Components of several conditions on the same cases (e.g. the severities of one corruption) average into the
    components of the averaged AUROC, so one object serves a single AUROC and a mean of AUROCs.
    """

    v10: np.ndarray  # (2, n_pos): per positive, the share of negatives ranked below it
    v01: np.ndarray  # (2, n_neg): per negative, the share of positives ranked above it

    @property
    def aurocs(self) -> tuple[float, float]:
        return float(self.v10[0].mean()), float(self.v10[1].mean())

    def covariance(self) -> np.ndarray:
        """2x2 covariance of the two AUROC estimates."""
        return np.cov(self.v10, ddof=1) / self.v10.shape[1] + np.cov(self.v01, ddof=1) / self.v01.shape[1]

    def correlation(self) -> float:
        """Correlation of the two AUROC estimates; nan where a variance is 0."""
        cov = self.covariance()
        product = cov[0, 0] * cov[1, 1]
        return float(cov[0, 1] / np.sqrt(product)) if product > 0 else float("nan")

    def misranked(self) -> tuple[int, int]:
        """(positives, negatives) not perfectly ranked by at least one model: the cases the variance rests on."""
        return int(np.sum((self.v10 < 1).any(axis=0))), int(np.sum((self.v01 < 1).any(axis=0)))

    def fewest_misranked(self) -> int:
        """Over both models and both classes, the fewest cases not perfectly ranked."""
        return int(min(np.sum(v < 1) for v in (*self.v10, *self.v01)))

    @classmethod
    def mean(cls, parts: list[PairedComponents]) -> PairedComponents:
        return cls(np.mean([p.v10 for p in parts], axis=0), np.mean([p.v01 for p in parts], axis=0))


def paired_components(y_true: np.ndarray, reference: np.ndarray, candidate: np.ndarray) -> PairedComponents:
    """Structural components of both models on the same cases."""
    _, v10_r, v01_r = structural_components(y_true, reference)
    _, v10_c, v01_c = structural_components(y_true, candidate)
    return PairedComponents(np.vstack([v10_r, v10_c]), np.vstack([v01_r, v01_c]))


def delong_variance(y_true: np.ndarray, y_score: np.ndarray) -> tuple[float, float]:
    """(AUROC, its DeLong variance)."""
    auc, v10, v01 = structural_components(y_true, y_score)
    return auc, float(np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01))


def delong_paired_test(y_true: np.ndarray, reference: np.ndarray, candidate: np.ndarray,
                       alpha: float = 0.05) -> DelongComparison:
    """Paired DeLong test of two AUROCs measured on the same cases, with a CI for the difference."""
    parts = paired_components(y_true, reference, candidate)
    auc_r, auc_c = parts.aurocs
    cov = parts.covariance()
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    delta = auc_c - auc_r
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0:
        # No sampling variability in the difference: equal AUROCs are certainly equal, unequal ones
        # certainly differ (pROC gives p = 0 there too).
        z, p = (0.0, 1.0) if delta == 0 else (float(np.sign(delta) * np.inf), 0.0)
    else:
        z = delta / se
        p = float(2 * stats.norm.sf(abs(z)))
    half = float(stats.norm.ppf(1 - alpha / 2)) * se
    return DelongComparison(auc_r, auc_c, delta, se, delta - half, delta + half, z, p, parts.correlation(),
                            parts.fewest_misranked())
