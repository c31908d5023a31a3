"""Duplicates, leakage and redundancy in a dataset's splits.

Exact duplicates share a content hash. Near duplicates: images whose perceptual hashes (DCT pHash,
64 bits) differ in at most `max_distance` bits; table rows within `max_distance` (Euclidean) after the
dataset's normalisation; or, with a model, cases whose penultimate features have cosine similarity of
at least `min_cosine`. Pairs across splits are leakage (the same case seen in training and judged in
test); clusters of near duplicates within a split are redundancy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from medprune.data.dataset import Dataset
from medprune.data.batches import iterate_batches
from medprune.data.images import as_picture
from medprune.errors import ConfigError
from medprune.records.audit import AuditRecord, Duplicates, Method

MAX_PAIRS_LISTED = 5000
CHUNK = 2048


@dataclass(frozen=True)
class AuditSettings:
    max_distance: float | None = None  # default: 2 bits (images) or 1e-6 (tables, standardised units)
    min_cosine: float = 0.995  # with model features

    def __post_init__(self) -> None:
        if self.max_distance is not None and not (np.isfinite(self.max_distance) and self.max_distance >= 0):
            raise ConfigError(f"--max-distance must be 0 or more, got {self.max_distance:g}: 2 (bits) for images, "
                              "1e-6 for tables")
        if not -1 <= self.min_cosine <= 1:
            raise ConfigError(f"--min-cosine must be in [-1, 1], got {self.min_cosine:g}: 0.995 finds near copies")

    def distance_for(self, modality: str) -> float:
        if self.max_distance is not None:
            return self.max_distance
        return 2 if modality == "image" else 1e-6


def content_hashes(x: np.ndarray) -> list[str]:
    return [hashlib.sha1(np.ascontiguousarray(row).tobytes()).hexdigest() for row in x]


def perceptual_hashes(images: np.ndarray) -> np.ndarray:
    """64-bit DCT perceptual hash of every (C, H, W) uint8 image (of a volume's three mid-slices), as uint64."""
    import imagehash
    from PIL import Image

    out = np.empty(len(images), dtype=np.uint64)
    for i, image in enumerate(images):
        bits = imagehash.phash(Image.fromarray(as_picture(image)).convert("L")).hash.flatten()
        out[i] = np.packbits(bits).view(">u8")[0]
    return out


def _pairs_where(a: np.ndarray, b: np.ndarray, block: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 close: Callable[[np.ndarray], np.ndarray], same: bool) -> list[tuple[int, int, float]]:
    """(i, j, value) for every a[i], b[j] whose block value is `close` (i < j within one split), in chunks."""
    pairs = []
    for start in range(0, len(a), CHUNK):
        values = block(a[start:start + CHUNK], b)
        for i, j in zip(*np.nonzero(close(values))):
            if not same or i + start < j:
                pairs.append((int(i) + start, int(j), float(values[i, j])))
    return pairs


def _hamming_pairs(a, b, limit, same):
    return _pairs_where(a, b, lambda x, y: np.bitwise_count(x[:, None] ^ y[None, :]), lambda v: v <= limit, same)


def _distance_pairs(a, b, limit, same):
    from sklearn.metrics import pairwise_distances

    return _pairs_where(a, b, pairwise_distances, lambda v: v <= limit, same)


def _cosine_pairs(a, b, limit, same):
    return _pairs_where(a, b, lambda x, y: x @ y.T, lambda v: v >= limit, same)


def penultimate_features(model, dataset: Dataset, split: str) -> np.ndarray:
    """L2-normalised inputs of the model's last Linear layer (its learned representation)."""
    import torch
    from torch import nn

    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    captured: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda mod, args, out: captured.append(args[0].detach().flatten(1)))
    model.eval()
    try:
        with torch.no_grad():
            for x, _ in iterate_batches(dataset.split(split), 256, preprocessing=dataset.preprocessing):
                model(x)
    finally:
        hook.remove()
    features = torch.cat(captured).numpy()
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


class _Finder:
    """Pairs of duplicates between two splits (or within one), exact first, then near."""

    def __init__(self, dataset: Dataset, settings: AuditSettings, model=None) -> None:
        self.dataset, self.settings = dataset, settings
        self.exact = {s: content_hashes(dataset.split(s).x) for s in dataset.splits}
        if model is not None:
            self.keys = {s: penultimate_features(model, dataset, s) for s in dataset.splits}
            self.near, self.limit, self.method = _cosine_pairs, settings.min_cosine, "feature cosine"
        elif dataset.modality == "image":
            self.keys = {s: perceptual_hashes(dataset.split(s).x) for s in dataset.splits}
            self.near, self.limit, self.method = _hamming_pairs, settings.distance_for("image"), "phash hamming"
        else:
            self.keys = {s: dataset.split(s).x.astype(np.float64) for s in dataset.splits}
            self.near, self.limit, self.method = _distance_pairs, settings.distance_for("table"), "euclidean"

    def pairs(self, a: str, b: str) -> list[dict[str, Any]]:
        same = a == b
        exact_a, exact_b = self.exact[a], self.exact[b]
        index_b: dict[str, list[int]] = {}
        for j, h in enumerate(exact_b):
            index_b.setdefault(h, []).append(j)
        found = {(i, j): "exact" for i, h in enumerate(exact_a) for j in index_b.get(h, []) if not same or i < j}
        for i, j, d in self.near(self.keys[a], self.keys[b], self.limit, same):
            found.setdefault((i, j), f"near ({d:g})")
        return [{"a": i, "b": j, "kind": kind} for (i, j), kind in sorted(found.items())]


def _clusters(n: int, pairs: list[dict[str, Any]]) -> list[list[int]]:
    """Connected components of the duplicate graph with more than one member."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for p in pairs:
        parent[root(p["a"])] = root(p["b"])
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def _summary(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": len(pairs), "exact": sum(p["kind"] == "exact" for p in pairs),
            "near": sum(p["kind"] != "exact" for p in pairs), "pairs": pairs[:MAX_PAIRS_LISTED],
            "truncated": len(pairs) > MAX_PAIRS_LISTED}


def _group_leakage(dataset: Dataset) -> dict[str, Any] | None:
    """Patients with cases in two splits, per split pair (counts only: reports never carry patient ids)."""
    if any(split.groups is None for split in dataset.splits.values()):
        return None
    out = {}
    for a, b in combinations(list(dataset.splits), 2):
        held_out = dataset.split(b)
        shared = set(dataset.split(a).groups) & set(held_out.groups)
        out[f"{a}-{b}"] = {"patients": len(shared),
                           f"{b}_cases_of_those_patients": int(np.isin(held_out.groups, list(shared)).sum())}
    return out


def _per_class(dataset: Dataset, split: str, cases: list[int]) -> dict[str, int] | None:
    """How many of `cases` each class holds; None for segmentation, whose cases hold every structure."""
    if dataset.task == "segmentation":
        return None
    y = dataset.split(split).y[cases]
    return {dataset.class_names[k]: int(np.sum(y == k)) for k in range(dataset.n_classes)}


def audit(dataset: Dataset, settings: AuditSettings | None = None, model=None) -> dict[str, Any]:
    """The audit record: `duplicates` (`within` per split, `across` per split pair), `leakage`, `redundancy`,
    and `group_leakage` (patients in two splits; None when the data names no patients)."""
    settings = settings or AuditSettings()
    if model is not None and dataset.task == "segmentation":
        raise ConfigError("--model compares the features a classifier learned; a segmentation network has no such "
                          "layer: drop --model (the images are compared by perceptual hash)")
    finder = _Finder(dataset, settings, model)
    names = list(dataset.splits)
    within = {s: finder.pairs(s, s) for s in names}
    across = {f"{a}-{b}": finder.pairs(a, b) for a, b in combinations(names, 2)}
    redundancy = {}
    for s in names:
        clusters = _clusters(len(dataset.split(s)), within[s])
        redundancy[s] = {"clusters": len(clusters), "cases_in_clusters": int(sum(map(len, clusters))),
                         "removable": int(sum(len(c) - 1 for c in clusters)),
                         "largest": max(map(len, clusters), default=0),
                         "per_class": _per_class(dataset, s, [i for c in clusters for i in c])}
    leakage = {}
    for key, pairs in across.items():
        held_out = key.split("-")[1]
        leakage[key] = {"pairs": len(pairs), f"{held_out}_cases_with_a_twin": len({p["b"] for p in pairs}),
                        "per_class": _per_class(dataset, held_out, [p["b"] for p in pairs])}
    return AuditRecord(
        data=dataset.describe(), group_leakage=_group_leakage(dataset),
        method=Method(exact="sha1 of the stored array", near=finder.method, threshold=finder.limit),
        duplicates=Duplicates(within={s: _summary(p) for s, p in within.items()},
                              across={k: _summary(p) for k, p in across.items()}),
        leakage=leakage, redundancy=redundancy).to_json_dict()
