"""Hostile input through the CLI: every case is one line on stderr, exit code 2, and nothing half-written."""

import errno
import json

import numpy as np
import pytest
import torch

from medprune.outputs import claim_output
from tests.conftest import make_images, needs_shared_data, shared_data_dir, write_npz
from tests.integration.test_cli import FAST, assert_one_line_error, invoke


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    npz = write_npz(root / "tiny.npz", counts=(128, 64, 64))
    result = invoke("train", "--data", npz, "--out", root / "run", *FAST)
    assert result.exit_code == 0, result.output
    return root


def test_output_paths_that_cannot_be_written(run, tmp_path, monkeypatch):
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    npz = run / "tiny.npz"
    assert_one_line_error(invoke("train", "--data", npz, "--out", a_file, *FAST), "is a file, not a folder")
    assert_one_line_error(invoke("prune", "--model", run / "run", "--out", a_file / "sub", "--finetune-epochs", "0"),
                          "is a file, not a folder")
    assert_one_line_error(invoke("evaluate", "--model", run / "run", "--json", tmp_path), "is a folder")
    assert a_file.read_text() == "keep me"
    import os

    real_access = os.access  # root ignores file modes: make the output folder read-only by decree
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: str(path) != str(tmp_path) and real_access(path, mode))
    assert_one_line_error(invoke("export", "--model", run / "run", "--out", tmp_path / "m.onnx"), "is not writable")


def test_a_second_run_into_the_same_folder_stops_at_once(run, tmp_path):
    with claim_output(tmp_path / "busy", "dir"):
        result = invoke("train", "--data", run / "tiny.npz", "--out", tmp_path / "busy", *FAST)
    assert_one_line_error(result, "another medprune run is writing")
    assert not (tmp_path / "busy" / "model.pt").exists()


def test_full_disk_during_validate_leaves_both_old_files_or_none(run, tmp_path, monkeypatch):
    out = tmp_path / "report"
    out.mkdir()
    (out / "validation.json").write_text("old verdict")
    (out / "report.html").write_text("old report")
    calls = {"n": 0}

    def disk_full_on_second_file(tmp):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    monkeypatch.setattr("medprune._atomic._share", disk_full_on_second_file)
    result = invoke("validate", "--reference", run / "run", "--candidate", run / "run", "--out", out)
    assert_one_line_error(result, "the disk is full")
    assert (out / "validation.json").read_text() == "old verdict" and (out / "report.html").read_text() == "old report"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "validation.json"]  # no temporary left


def _damage(run_dir, tmp_path, name, change):
    payload = torch.load(run_dir / "model.pt", weights_only=True)
    spec = json.loads(payload["spec"])
    change(spec, payload)
    payload["spec"] = json.dumps(spec)
    folder = tmp_path / name
    folder.mkdir()
    torch.save(payload, folder / "model.pt")
    return folder


@pytest.mark.parametrize("name, change, message", [
    ("kwargs", lambda s, p: s["model"].update(kwargs={"nonsense": 1}), "cannot be built from its recorded settings"),
    ("shape", lambda s, p: s["model"].pop("input_shape"), "model.input_shape: Field required"),
    ("classes", lambda s, p: s["model"].update(n_classes=-2), "model.n_classes: Input should be greater than or equal to 2"),
    ("state", lambda s, p: p.update(state_dict=[1, 2]), "state_dict is not a mapping of tensors"),
    ("nan", lambda s, p: next(v for v in p["state_dict"].values() if v.is_floating_point()).fill_(float("nan")),
     "NaN or infinite values"),
])
def test_damaged_checkpoints(run, tmp_path, name, change, message):
    folder = _damage(run / "run", tmp_path, name, change)
    assert_one_line_error(invoke("evaluate", "--model", folder, "--repeats", "1"), message)


def test_model_with_non_finite_outputs_is_refused_by_validate(run, tmp_path):
    def blow_up(spec, payload):
        for key, value in payload["state_dict"].items():
            if key.endswith("weight") and value.is_floating_point():
                value.mul_(1e30)  # logits overflow to inf, softmax gives NaN

    folder = _damage(run / "run", tmp_path, "overflow", blow_up)
    result = invoke("validate", "--reference", run / "run", "--candidate", folder, "--out", tmp_path / "v")
    assert_one_line_error(result, "gives NaN or infinite outputs")
    assert not (tmp_path / "v" / "validation.json").exists()


def test_degenerate_data(tmp_path):
    images, labels = make_images(32, 16, 1, 2, np.random.default_rng(0))
    strings = write_npz(tmp_path / "strings.npz", train_labels=np.array([["a"], ["b"]] * 32))
    assert_one_line_error(invoke("train", "--data", strings, "--out", tmp_path / "a", *FAST), "labels has dtype <U1")
    one_val = write_npz(tmp_path / "one_val.npz", counts=(64, 1, 64))
    assert_one_line_error(invoke("train", "--data", one_val, "--out", tmp_path / "b", *FAST), "--val-fraction")
    result = invoke("train", "--data", one_val, "--val-fraction", "0.25", "--out", tmp_path / "c", *FAST)
    assert result.exit_code == 0, result.output
    stray = labels.copy()
    stray[3] = 7
    stray_npz = write_npz(tmp_path / "stray.npz", counts=(32, 32, 32), train_images=images, train_labels=stray)
    assert_one_line_error(invoke("train", "--data", stray_npz, "--out", tmp_path / "d", *FAST),
                          "class 2 has no training cases")


def test_impossible_settings(run, tmp_path):
    npz = run / "tiny.npz"
    assert_one_line_error(invoke("data", "audit", "--data", npz, "--max-distance", "-1"), "--max-distance must be 0")
    assert_one_line_error(invoke("data", "audit", "--data", npz, "--min-cosine", "2"), "--min-cosine must be in")
    assert_one_line_error(invoke("evaluate", "--model", run / "run", "--repeats", "0"), "latency repeats must be")
    assert_one_line_error(invoke("validate", "--reference", run / "run", "--candidate", run / "run", "--margin",
                                 "auroc=0.01,sensitivity=oops", "--out", tmp_path / "v"), "cannot read margin")
    assert_one_line_error(invoke("validate", "--reference", run / "run", "--candidate", run / "run",
                                 "--candidate-threshold", "lowest", "--out", tmp_path / "v"),
                          "unknown candidate threshold rule 'lowest'")


def test_inf_in_a_table_is_refused(tiny_table, tmp_path):
    lines = tiny_table.read_text().splitlines()
    lines[2] = ",".join(["inf", *lines[2].split(",")[1:]])
    tiny_table.write_text("\n".join(lines) + "\n")
    result = invoke("train", "--data", tiny_table, "--label-column", "Outcome", "--model", "mlp", "--out", tmp_path / "t",
                    *FAST)
    assert_one_line_error(result, "column 'Age' holds infinite values")


@needs_shared_data
def test_heart_model_reads_its_columns_by_name(tmp_path):
    import pandas as pd

    source = shared_data_dir() / "heart_disease.csv"
    result = invoke("train", "--data", source, "--label-column", "HeartDisease", "--model", "mlp", "--out", tmp_path / "m",
                    "--epochs", "5", "--batch-size", "64", "--no-progress")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(source)
    columns = list(frame.columns)
    columns[0], columns[4] = columns[4], columns[0]
    frame[columns].to_csv(tmp_path / "reordered.csv", index=False)
    frame.rename(columns={"RestingBP": "Age"}).to_csv(tmp_path / "renamed.csv", index=False)
    original = invoke("evaluate", "--model", tmp_path / "m", "--json", tmp_path / "a.json", "--repeats", "1")
    reordered = invoke("evaluate", "--model", tmp_path / "m", "--data", tmp_path / "reordered.csv", "--json",
                       tmp_path / "b.json", "--repeats", "1")
    assert original.exit_code == 0 and reordered.exit_code == 0, reordered.output
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    for key in ("auroc", "sensitivity", "specificity", "threshold", "brier"):
        assert a[key] == b[key]
    assert_one_line_error(invoke("evaluate", "--model", tmp_path / "m", "--data", tmp_path / "renamed.csv"),
                          "the column 'Age' appears 2 times")
