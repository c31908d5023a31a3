"""Does a case look like the data the model was trained on? A summary of the training inputs, kept in the
checkpoint, against which `predict` and `evaluate` flag every case that does not.

Checks, each with a reason a user can act on:
- DICOM headers (Modality, BodyPartExamined, PhotometricInterpretation) against the values the training data
  implies (a chest X-ray model given a CT slice);
- the file's aspect ratio against the training images' (an image squeezed into the model's square input);
- the image's mean intensity and contrast against the range of the training images;
- distance in the model's own feature space (the input of its output layer, reduced to its 64 principal
  components): the smallest Mahalanobis distance to a class mean with a shared, shrunk covariance (Lee et al.
  2018), flagged beyond the 99th percentile of the validation cases, so about 1 % of cases like the training data
  are flagged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from medprune.data.batches import to_tensor

QUANTILE = 0.99  # of validation distances: the feature threshold
INTENSITY_SLACK = 0.1  # widening of the training range of mean intensity and contrast, as a share of its span
ASPECT_SLACK = 1.25  # a file's aspect ratio may differ from the training images' by this factor
MAX_FIT_CASES = 4000  # training cases the feature statistics are estimated from (a seeded sample)
COMPONENTS = 64  # principal components of the features kept: the profile stays small in the checkpoint's JSON
# DICOM Modality values of the images a MedMNIST set was made from (others: not checked).
MODALITIES = {"pneumoniamnist": ("CR", "DX"), "chestmnist": ("CR", "DX"), "breastmnist": ("US",),
              "retinamnist": ("OP",), "dermamnist": ("XC",), "organamnist": ("CT",), "organcmnist": ("CT",),
              "organsmnist": ("CT",), "adrenalmnist3d": ("CT",)}
DICOM_FIELDS = ("Modality", "BodyPartExamined", "PhotometricInterpretation")  # never identifiers


def output_layer(model: nn.Module, n_classes: int) -> nn.Linear | None:
    """The last Linear layer giving the class scores: its input is the model's feature vector."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == n_classes]
    return linears[-1] if linears else None


@torch.no_grad()
def features(model: nn.Module, layer: nn.Linear, x: np.ndarray, preprocessing: dict,
             batch_size: int = 256) -> np.ndarray:
    """The inputs of `layer` for stored images `x`, (N, D)."""
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0].detach().flatten(1)))
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(x), batch_size):
            model(to_tensor(np.asarray(x[start:start + batch_size]), preprocessing))
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(captured).double().numpy()


def fit_profile(model: nn.Module, dataset: Any, seed: int = 0) -> dict[str, Any] | None:
    """The profile of `dataset`'s training images as `model` sees them (None for tables and segmentation)."""
    if dataset.modality != "image" or dataset.task == "segmentation":
        return None
    from sklearn.covariance import LedoitWolf

    train, val = dataset.split("train"), dataset.split("val")
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.permutation(len(train))[:MAX_FIT_CASES])
    x = np.asarray(train.x[sample])
    means, stds = _intensity(x)
    profile: dict[str, Any] = {
        "version": 1, "input_shape": list(dataset.input_shape),
        "intensity": {"mean": _widened(means), "std": _widened(stds)},
        "aspect": [1.0, 1.0] if _square_source(dataset) else None,
        "dicom": {"Modality": list(MODALITIES.get(dataset.name.split("@")[0], ()))},
        "features": None,
    }
    layer = output_layer(model, dataset.n_classes)
    if layer is not None:
        train_features = features(model, layer, x, dataset.preprocessing)
        mean = train_features.mean(0)
        _, _, components = np.linalg.svd(train_features - mean, full_matrices=False)
        projection = components[:COMPONENTS].T  # (D, k)
        z = (train_features - mean) @ projection
        labels = np.asarray(train.y[sample])
        classes = np.unique(labels)
        centres = np.stack([z[labels == k].mean(0) for k in classes])
        precision = LedoitWolf().fit(z - centres[np.searchsorted(classes, labels)]).precision_
        block = {"mean": _rounded(mean), "projection": _rounded(projection), "centres": _rounded(centres),
                 "precision": _rounded(precision), "quantile": QUANTILE}
        val_distances = _feature_distances(block, features(model, layer, np.asarray(val.x), dataset.preprocessing))
        profile["features"] = block | {"threshold": float(np.quantile(val_distances, QUANTILE))}
    return profile


def check_cases(profile: dict[str, Any], model: nn.Module, x: np.ndarray, preprocessing: dict, n_classes: int, *,
                aspects: np.ndarray | None = None, dicom: list[dict[str, str]] | None = None
                ) -> tuple[np.ndarray, list[str]]:
    """(feature distance relative to its threshold, reason per case: "" for a case like the training data).

    `aspects`: each file's width / height before resizing; `dicom`: each file's DICOM_FIELDS (empty for others).
    """
    n = len(x)
    reasons: list[list[str]] = [[] for _ in range(n)]
    expected = set(profile.get("dicom", {}).get("Modality", []))
    for i, tags in enumerate(dicom or [{}] * n):
        modality = tags.get("Modality", "")
        if expected and modality and modality not in expected:
            reasons[i].append(f"DICOM Modality {modality} (trained on {'/'.join(sorted(expected))})")
    if aspects is not None and profile.get("aspect"):
        low, high = profile["aspect"]
        for i, aspect in enumerate(aspects):
            if not low / ASPECT_SLACK <= aspect <= high * ASPECT_SLACK:
                reasons[i].append(f"aspect ratio {aspect:.2f} (trained on {low:.2f}-{high:.2f}; the image was "
                                  "resized to the model's input)")
    means, stds = _intensity(np.asarray(x))
    for name, values in (("mean intensity", means), ("contrast (intensity SD)", stds)):
        low, high = profile["intensity"]["mean" if name == "mean intensity" else "std"]
        for i in np.flatnonzero((values < low) | (values > high)):
            reasons[i].append(f"{name} {values[i]:.0f} outside the training range {low:.0f}-{high:.0f}")
    relative = np.full(n, np.nan)
    block = profile.get("features")
    layer = output_layer(model, n_classes) if block else None
    if layer is not None:
        relative = _feature_distances(block, features(model, layer, x, preprocessing)) / block["threshold"]
        for i in np.flatnonzero(relative > 1):
            reasons[i].append(f"unlike the training images to the model (feature distance {relative[i]:.1f}x the "
                              f"{100 * block['quantile']:g}th percentile of validation)")
    return relative, ["; ".join(r) for r in reasons]


def detector_score(relative: np.ndarray, reasons: list[str]) -> np.ndarray:
    """One number per case for the detector's ROC: the relative feature distance, raised above every unflagged
    case when a rule flags it."""
    score = np.nan_to_num(relative, nan=0.0)
    flagged = np.array([bool(r) for r in reasons])
    return np.where(flagged, np.maximum(score, 1.0) + 1e6, score)


def _square_source(dataset: Any) -> bool:
    """MedMNIST images (and .npz in its layout) were square before medprune read them; other images were resized
    from sizes not recorded, so their aspect ratio is not checked."""
    source = str(dataset.source.get("data", ""))
    return dataset.name.split("@")[0] in MODALITIES or source.split("@")[0] in MODALITIES or source.endswith(".npz")


def _intensity(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image's mean and standard deviation of its stored 8-bit values."""
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return flat.mean(1), flat.std(1)


def _widened(values: np.ndarray) -> list[float]:
    low, high = np.quantile(values, [0.001, 0.999])
    slack = INTENSITY_SLACK * max(high - low, 1.0)
    return [float(low - slack), float(high + slack)]


def _feature_distances(block: dict[str, Any], feats: np.ndarray) -> np.ndarray:
    """The smallest Mahalanobis distance of each feature row, projected, to a class centre."""
    z = (feats - np.asarray(block["mean"])) @ np.asarray(block["projection"])
    precision = np.asarray(block["precision"])
    best = np.full(len(z), np.inf)
    for centre in np.asarray(block["centres"]):
        d = z - centre
        best = np.minimum(best, np.einsum("ij,jk,ik->i", d, precision, d))
    return np.sqrt(np.maximum(best, 0.0))


def _rounded(array: np.ndarray) -> list:
    """Six significant digits: ample for a distance, and a third of the JSON."""
    return np.asarray(array, dtype=np.float64).round(8).astype(float).tolist() if array.ndim == 0 else \
        [float(f"{v:.6g}") for v in array] if array.ndim == 1 else [_rounded(row) for row in array]
