"""`medprune data audit` and `medprune data prune`, and training on the subset file."""

import json

import pytest

from tests.conftest import write_npz
from tests.integration.test_cli import assert_one_line_error, invoke

PROXY = ["--proxy-epochs", "1", "--proxy-runs", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_npz(tmp_path_factory.mktemp("data") / "d.npz", counts=(96, 32, 32))


def test_audit_writes_json_and_html(data, tmp_path):
    result = invoke("data", "audit", "--data", data, "--json", tmp_path / "a.json", "--html", tmp_path / "a.html")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "a.json").read_text())
    assert set(record["duplicates"]["within"]) == {"train", "val", "test"}
    assert set(record["duplicates"]["across"]) == {"train-val", "train-test", "val-test"}
    assert all("count" in b and "pairs" in b for b in record["duplicates"]["across"].values())
    assert "Leakage across splits" in (tmp_path / "a.html").read_text()


def test_prune_writes_a_subset_that_train_accepts_reproducibly(data, tmp_path):
    out = tmp_path / "el2n"
    result = invoke("data", "prune", "--data", data, "--score", "el2n", "--keep", "0.5", "--out", out, *PROXY)
    assert result.exit_code == 0, result.output
    subset = json.loads((out / "subset.json").read_text())
    assert {"indices", "kept_fraction", "score", "per_class"} <= set(subset)
    assert subset["kept_fraction"] == 0.5 and subset["score"] == "el2n" and len(subset["indices"]) == 48
    assert {v["after"] for v in subset["per_class"].values()} == {24}  # class proportions kept
    runs = []
    for name in ("a", "b"):
        result = invoke("train", "--data", out / "subset.json", "--out", tmp_path / name, "--epochs", "2",
                        "--batch-size", "16", "--no-progress")
        assert result.exit_code == 0, result.output
        runs.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    assert runs[0]["data"]["n"]["train"] == 48 and runs[0]["data"]["n"]["test"] == 32
    assert runs[0]["auroc"] == runs[1]["auroc"]  # reproducible
    evaluated = invoke("evaluate", "--model", tmp_path / "a", "--repeats", "1")  # the subset is the recorded data
    assert evaluated.exit_code == 0, evaluated.output


def test_bad_prune_requests(data, tmp_path):
    base = ["data", "prune", "--data", data, "--out", tmp_path / "x", *PROXY]
    assert_one_line_error(invoke(*base, "--keep", "0"), "--keep must be in (0, 1]")
    assert_one_line_error(invoke(*base, "--keep", "1.5"), "--keep must be in (0, 1]")
    assert_one_line_error(invoke(*base, "--score", "el2m"), "did you mean 'el2n'")
    assert invoke(*base, "--score", "random").exit_code == 0
    subset = json.loads((tmp_path / "x" / "subset.json").read_text())
    other = write_npz(tmp_path / "other.npz", counts=(50, 32, 32), seed=3)
    (tmp_path / "wrong.json").write_text(json.dumps({**subset, "source": {"data": str(other)}, "md5": ""}))
    assert_one_line_error(invoke("train", "--data", tmp_path / "wrong.json", "--out", tmp_path / "t"),
                          "does not match")
    (tmp_path / "changed.json").write_text(json.dumps({**subset, "md5": "0" * 32}))
    assert_one_line_error(invoke("train", "--data", tmp_path / "changed.json", "--out", tmp_path / "t"),
                          "was made from another file")
    (tmp_path / "junk.json").write_text("{not json")
    assert_one_line_error(invoke("train", "--data", tmp_path / "junk.json", "--out", tmp_path / "t"),
                          "not readable JSON")
