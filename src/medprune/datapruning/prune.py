"""`data prune`: score every training case, keep a share, write `subset.json` for `--data`."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from medprune._atomic import write_atomic, write_json_atomic
from medprune.data.dataset import Dataset
from medprune.data.subset import write_subset
from medprune.datapruning.score import SCORES, ProxySettings
from medprune.datapruning.select import Selection, select
from medprune.records.data_subset import DataSubsetRecord


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a handle, so numpy does not append .npy to the temporary name
        np.save(handle, array)


def prune_data(dataset: Dataset, score: str, selection: Selection, out: Path,
               proxy: ProxySettings | None = None) -> dict[str, Any]:
    """Score, select and write `out/subset.json` (and `out/scores.npy`); returns the subset record."""
    selection.check()
    scorer = SCORES.get(score)()
    proxy = proxy or ProxySettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    scores = scorer.compute(dataset, proxy)
    scoring_s = time.perf_counter() - began
    y = dataset.split("train").y
    indices = select(scores, y, selection)
    per_class = {name: {"before": int((y == k).sum()), "after": int((y[indices] == k).sum())}
                 for k, name in enumerate(dataset.class_names)}
    record = DataSubsetRecord(score=score, kept_fraction=len(indices) / len(y), per_class=per_class,
                              selection=selection.to_dict(), proxy=asdict(proxy), scoring_wall_time_s=scoring_s)
    write_atomic(out / "scores.npy", lambda tmp: _save_array(tmp, scores))
    written = record.to_json_dict()
    write_subset(out / "subset.json", dataset, indices, written)
    write_json_atomic(out / "summary.json", {**written, "n_kept": len(indices), "n_train": len(y)})
    return {**written, "indices": indices.tolist()}
