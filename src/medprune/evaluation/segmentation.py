"""Per-case, per-structure segmentation metrics, computed by MONAI's metric functions.

Empty masks (a structure absent from the ground truth, the prediction, or both), by convention here:
- Dice: both empty 1 (nothing to find, nothing found), one empty 0.
- HD95 (mm, using the voxel spacing): both empty 0; one empty the case's diagonal in mm, the worst distance
  possible, so a missed or invented structure counts against the model instead of vanishing from a mean.
- Normalised surface Dice at a tolerance in mm: both empty 1, one empty 0.
- Volume (mL): voxels times the voxel volume (mm^3 / 1000); for PNGs without a pixel size, pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NSD_TOLERANCE_MM = 1.0
METRICS = ("dice", "hd95", "nsd", "volume")


@dataclass
class CaseMetrics:
    """metrics[name] has shape (N cases, S structures); volume_true holds the ground truth's volumes."""

    structures: list[str]
    dice: np.ndarray
    hd95: np.ndarray
    nsd: np.ndarray
    volume: np.ndarray
    volume_true: np.ndarray

    def summary(self) -> dict[str, dict[str, float]]:
        """Means per structure (HD95 also its median), for metrics.json and the console."""
        out: dict[str, dict[str, float]] = {}
        for s, name in enumerate(self.structures):
            out[name] = {"dice": float(self.dice[:, s].mean()), "hd95_mm": float(self.hd95[:, s].mean()),
                         "hd95_median_mm": float(np.median(self.hd95[:, s])), "nsd": float(self.nsd[:, s].mean()),
                         "volume_error_ml": float((self.volume[:, s] - self.volume_true[:, s]).mean())}
        return out

    def to_dict(self) -> dict[str, list]:
        return {"structures": self.structures, **{k: getattr(self, k).tolist() for k in
                                                   ("dice", "hd95", "nsd", "volume", "volume_true")}}


def _one_hot(mask: np.ndarray, n_classes: int):
    import torch

    t = torch.as_tensor(mask.astype(np.int64))
    return torch.nn.functional.one_hot(t, n_classes).movedim(-1, 0)[None].float()


def case_metrics(pred: np.ndarray, true: np.ndarray, n_classes: int, spacing: tuple[float, ...],
                 tolerance_mm: float = NSD_TOLERANCE_MM) -> tuple[np.ndarray, ...]:
    """Dice, HD95, NSD, predicted and true volume of each structure (1..K-1) of one case."""
    import warnings

    from monai.metrics import compute_dice, compute_hausdorff_distance, compute_surface_dice

    p, t = _one_hot(pred, n_classes), _one_hot(true, n_classes)
    spacing = [float(s) for s in spacing]
    with warnings.catch_warnings():  # MONAI warns for every empty structure; handled below
        warnings.simplefilter("ignore")
        dice = compute_dice(p, t, include_background=False, ignore_empty=False)[0].numpy()
        hd = compute_hausdorff_distance(p, t, include_background=False, percentile=95, spacing=spacing)[0].numpy()
        nsd = compute_surface_dice(p, t, [tolerance_mm] * (n_classes - 1), include_background=False,
                                   spacing=spacing)[0].numpy()
    has_p = p[0, 1:].flatten(1).sum(1).numpy() > 0
    has_t = t[0, 1:].flatten(1).sum(1).numpy() > 0
    both_empty, one_empty = ~has_p & ~has_t, has_p ^ has_t
    diagonal = float(np.sqrt(np.sum((np.array(true.shape) * np.array(spacing)) ** 2)))
    hd = np.where(both_empty, 0.0, np.where(one_empty, diagonal, hd))
    nsd = np.where(both_empty, 1.0, np.where(one_empty, 0.0, nsd))
    dice = np.where(both_empty, 1.0, np.where(one_empty, 0.0, dice))
    voxel_ml = float(np.prod(spacing)) / 1000.0
    volume = np.array([(pred == k).sum() for k in range(1, n_classes)]) * voxel_ml
    volume_true = np.array([(true == k).sum() for k in range(1, n_classes)]) * voxel_ml
    return dice, hd, nsd, volume, volume_true


def score_cases(preds: list[np.ndarray], trues: list[np.ndarray], spacings: np.ndarray, structures: list[str],
                tolerance_mm: float = NSD_TOLERANCE_MM) -> CaseMetrics:
    """Metrics of every case; preds and trues are each case's label maps at its own shape."""
    rows = [case_metrics(p, t, len(structures) + 1, tuple(s), tolerance_mm) for p, t, s in zip(preds, trues, spacings)]
    cols = [np.stack([r[i] for r in rows]) for i in range(5)]
    return CaseMetrics(list(structures), *cols)
