"""Choose the training cases to keep from their scores (higher = harder)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from medprune.errors import ConfigError


@dataclass(frozen=True)
class Selection:
    keep: float  # share of the training split kept, in (0, 1]
    stratify: bool = True  # keep the class proportions (imbalance and difficulty cluster by class)
    drop_hardest: float = 0.0  # share of each class dropped first as likely label noise
    easy_negatives_only: bool = False  # remove only the easiest negatives; keep every positive
    negative_class: int = 0
    prefer: str = "hard"  # keep the hardest cases (large data) or the easiest (small data, Sorscher et al. 2022)

    def check(self) -> Selection:
        if not 0 < self.keep <= 1:
            raise ConfigError(f"--keep must be in (0, 1], got {self.keep:g}: give the share of training cases to keep")
        if self.prefer not in ("hard", "easy"):
            raise ConfigError(f"prefer must be hard or easy, got '{self.prefer}'")
        if not 0 <= self.drop_hardest < 0.5:
            raise ConfigError(f"--drop-hardest must be in [0, 0.5), got {self.drop_hardest:g}: try 0.02")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hardest(indices: np.ndarray, scores: np.ndarray, count: int) -> np.ndarray:
    order = indices[np.argsort(-scores[indices], kind="stable")]
    return order[:count]


def select(scores: np.ndarray, y: np.ndarray, selection: Selection) -> np.ndarray:
    """Sorted indices of the kept cases."""
    selection.check()
    n = len(y)
    pool = np.arange(n)
    ranking = scores if selection.prefer == "hard" else -scores  # what is kept first
    if selection.drop_hardest:
        noisy = np.concatenate([_hardest(np.flatnonzero(y == c), scores, int(selection.drop_hardest * (y == c).sum()))
                                for c in np.unique(y)])
        pool = np.setdiff1d(pool, noisy)
    target = round(selection.keep * n)
    if selection.easy_negatives_only:
        negatives = pool[y[pool] == selection.negative_class]
        others = pool[y[pool] != selection.negative_class]
        room = target - len(others)
        if room < 1:
            raise ConfigError(f"--easy-negatives-only cannot keep {selection.keep:g} of the cases: the positives alone "
                              f"are {len(others) / n:.2f} of them; raise --keep")
        return np.sort(np.concatenate([others, _hardest(negatives, scores, room)]))
    if not selection.stratify:
        return np.sort(_hardest(pool, ranking, target))
    kept = []
    for c in np.unique(y):
        members = pool[y[pool] == c]
        kept.append(_hardest(members, ranking, max(1, round(selection.keep * (y == c).sum()))))
    return np.sort(np.concatenate(kept))
