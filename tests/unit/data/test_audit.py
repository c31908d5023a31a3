"""The audit finds injected duplicates and leakage, and exactly the duplicates hashing finds in real data."""

import hashlib
from collections import Counter

import numpy as np
import pytest

from medprune.data import load_data
from medprune.data.audit import AuditSettings, audit
from tests.conftest import needs_shared_data, shared_data_dir, write_npz


def _pairs(block):
    return {(p["a"], p["b"]) for p in block["pairs"]}


def test_injected_train_test_duplicates_are_leakage(tmp_path):
    path = write_npz(tmp_path / "d.npz", counts=(40, 20, 20))
    arrays = dict(np.load(path))
    rng = np.random.default_rng(1)
    arrays["train_images"] = rng.integers(0, 255, arrays["train_images"].shape, dtype=np.uint8)  # all distinct
    arrays["val_images"] = rng.integers(0, 255, arrays["val_images"].shape, dtype=np.uint8)
    arrays["test_images"] = rng.integers(0, 255, arrays["test_images"].shape, dtype=np.uint8)
    arrays["test_images"][3] = arrays["train_images"][7]  # the same image in test
    near = arrays["train_images"][11].astype(int)
    near[0, 0] += 1 if near[0, 0] < 255 else -1  # one pixel changed: same perceptual hash
    arrays["test_images"][5] = near.astype(np.uint8)
    arrays["train_images"][2] = arrays["train_images"][9]  # a duplicate within train
    np.savez(path, **arrays)
    record = audit(load_data(path))
    across = record["duplicates"]["across"]["train-test"]
    assert _pairs(across) == {(7, 3), (11, 5)}
    assert {p["kind"] for p in across["pairs"]} == {"exact", "near (0)"}
    assert _pairs(record["duplicates"]["within"]["train"]) == {(2, 9)}
    assert record["duplicates"]["across"]["train-val"]["count"] == 0
    assert record["leakage"]["train-test"]["test_cases_with_a_twin"] == 2
    assert record["redundancy"]["train"]["removable"] == 1


def test_duplicate_table_rows_are_found(tiny_table, tmp_path):
    lines = tiny_table.read_text().splitlines()
    doubled = tmp_path / "t.csv"
    doubled.write_text("\n".join(lines + lines[1:4]) + "\n")  # three rows twice
    record = audit(load_data(doubled, label_column="Outcome"), AuditSettings())
    found = sum(b["exact"] for b in record["duplicates"]["within"].values()) + \
        sum(b["exact"] for b in record["duplicates"]["across"].values())
    assert found == 3


def _hash_pairs(x_a, x_b=None):
    """Duplicate pairs by hashing alone: within one array, or across two."""
    hashes_a = [hashlib.md5(row.tobytes()).hexdigest() for row in x_a]
    if x_b is None:
        return sum(n * (n - 1) // 2 for n in Counter(hashes_a).values())
    counts_b = Counter(hashlib.md5(row.tobytes()).hexdigest() for row in x_b)
    return sum(counts_b[h] for h in hashes_a)


@needs_shared_data
@pytest.mark.parametrize("name", ["pneumoniamnist", "retinamnist"])
def test_exact_duplicates_in_the_shared_data_match_hashing(name):
    dataset = load_data(name, data_dir=shared_data_dir())
    record = audit(dataset)
    for split, block in record["duplicates"]["within"].items():
        assert block["exact"] == _hash_pairs(dataset.split(split).x), split
    for key, block in record["duplicates"]["across"].items():
        a, b = key.split("-")
        assert block["exact"] == _hash_pairs(dataset.split(a).x, dataset.split(b).x), key
