"""Vectorised paired, stratified bootstrap of metric differences between two models on the same cases.

Each resample is a vector of case counts (how often each case is drawn), drawn within each class so
the class balance of the test set is kept. Every metric is then a weighted sum, so all resamples are
computed at once with array operations; AUROC uses cumulative negative counts in score order.
"""

from __future__ import annotations

import numpy as np


def stratified_counts(y_true: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_cases) float32 draw counts, resampling within each class (seeded)."""
    import torch  # its random integers and scatter-add are several times faster than numpy's here

    generator = torch.Generator().manual_seed(seed)
    counts = torch.zeros(n_resamples, len(y_true))
    for label in np.unique(y_true):
        members = torch.from_numpy(np.flatnonzero(y_true == label))
        draws = members[torch.randint(0, len(members), (n_resamples, len(members)), generator=generator)]
        counts.scatter_add_(1, draws, torch.ones(draws.shape))
    return counts.numpy()


def weighted_auroc(is_pos: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """AUROC of every resample: sum over positives of count x (weighted negatives below, ties half)."""
    neg_idx, pos_idx = np.flatnonzero(~is_pos), np.flatnonzero(is_pos)
    neg_order = neg_idx[np.argsort(scores[neg_idx], kind="stable")]
    neg_scores = scores[neg_order]
    # cum[:, j] = weighted count of the j lowest-scoring negatives (integer counts: exact in float32).
    cum = np.zeros((len(counts), len(neg_order) + 1), dtype=np.float32)
    np.cumsum(counts[:, neg_order], axis=1, out=cum[:, 1:])
    below = cum[:, np.searchsorted(neg_scores, scores[pos_idx], side="left")]
    upto = cum[:, np.searchsorted(neg_scores, scores[pos_idx], side="right")]
    pos_w = counts[:, pos_idx]
    # Negatives tied with a positive count half (the Mann-Whitney convention).
    hits = pos_w * (below + 0.5 * (upto - below))
    return hits.sum(axis=1, dtype=np.float64) / (pos_w.sum(axis=1, dtype=np.float64) * cum[:, -1])


def macro_auroc(y_true: np.ndarray, probs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Binary AUROC (probs 1-D) or macro one-vs-rest AUROC (probs (N, K)) of every resample."""
    if probs.ndim == 1:
        return weighted_auroc(y_true == 1, probs, counts)
    per_class = [weighted_auroc(y_true == k, probs[:, k], counts) for k in range(probs.shape[1])
                 if 0 < (y_true == k).sum() < len(y_true)]
    return np.mean(per_class, axis=0)


def weighted_rate(hit: np.ndarray, member: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Share of `member` cases with `hit`, per resample (e.g. sensitivity: hit=predicted positive, member=positive)."""
    num = counts @ (hit & member).astype(np.float64)
    den = counts @ member.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def percentile_ci(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    return float(np.quantile(finite, alpha / 2)), float(np.quantile(finite, 1 - alpha / 2))

