"""The CLI end to end on small synthetic data: runs, outputs, and one-line errors with exit code 2."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from medprune.cli import app
from medprune.models import load_checkpoint
from tests.conftest import write_npz

runner = CliRunner()
FAST = ["--epochs", "2", "--batch-size", "16", "--no-progress"]
EVAL_KEYS = {"auroc", "auprc", "accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv",
             "threshold", "ece", "brier", "n", "efficiency"}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, match):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert match in lines[0]
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    npz = write_npz(root / "tiny.npz")
    result = invoke("train", "--data", npz, "--model", "smallcnn", "--out", root / "run", *FAST)
    assert result.exit_code == 0, result.output
    return root


def test_train_writes_a_complete_run_directory(trained):
    run = trained / "run"
    assert {p.name for p in run.iterdir()} == {"model.pt", "metrics.json", "summary.md", "train_log.jsonl"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert EVAL_KEYS <= set(metrics)
    assert set(metrics["efficiency"]["latency_ms"]) == {"batch1", "batch32"}
    assert metrics["data"]["task"] == "binary" and metrics["training"]["config"]["epochs"] == 2
    assert "Sensitivity" in (run / "summary.md").read_text()


def test_evaluate_writes_json_with_the_contract_keys(trained):
    out = trained / "eval.json"
    result = invoke("evaluate", "--model", trained / "run", "--json", out, "--repeats", "2")
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert EVAL_KEYS <= set(record)
    assert {"params", "nonzero_params", "macs", "size_bytes", "size_gzip_bytes", "latency_ms",
            "peak_memory_bytes"} <= set(record["efficiency"])
    assert record["threshold"] == pytest.approx(json.loads((trained / "run" / "metrics.json").read_text())["threshold"])


def test_latency_is_timed_on_the_cpu_unless_told_and_says_where(trained, tmp_path):
    import torch

    out = tmp_path / "m.json"
    result = invoke("evaluate", "--model", trained / "run", "--json", out, "--repeats", "1", "--latency-device", "cpu")
    assert result.exit_code == 0, result.output
    assert "latency timed on" in result.output
    assert json.loads(out.read_text())["efficiency"]["conditions"]["latency_device"] == "cpu"
    if not torch.cuda.is_available():
        assert_one_line_error(invoke("evaluate", "--model", trained / "run", "--latency-device", "cuda"),
                              "this machine has no CUDA device")


def test_evaluate_with_target_sensitivity(trained):
    out = trained / "sens.json"
    result = invoke("evaluate", "--model", trained / "run", "--json", out, "--target-sensitivity", "0.99",
                    "--repeats", "1", "--split", "val")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["sensitivity"] >= 0.99


def test_existing_run_is_not_overwritten_silently(trained):
    before = (trained / "run" / "model.pt").read_bytes()
    result = invoke("train", "--data", trained / "tiny.npz", "--out", trained / "run", *FAST)
    assert_one_line_error(result, "already holds a trained model")
    assert (trained / "run" / "model.pt").read_bytes() == before


def test_image_shape_not_matching_the_model(trained, tmp_path):
    other = write_npz(tmp_path / "big.npz", size=24)
    result = invoke("evaluate", "--model", trained / "run", "--data", other)
    assert_one_line_error(result, "expects inputs of shape (1, 16, 16)")


def test_class_count_not_matching_the_model(trained, tmp_path):
    other = write_npz(tmp_path / "three.npz", n_classes=3)
    assert_one_line_error(invoke("evaluate", "--model", trained / "run", "--data", other), "predicts 2 classes")


def test_corrupt_checkpoint(trained, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.pt").write_bytes((trained / "run" / "model.pt").read_bytes()[:1000])
    assert_one_line_error(invoke("evaluate", "--model", bad), "not a readable checkpoint")


@pytest.mark.parametrize("args, match", [
    (["--model", "resnet19"], "did you mean 'resnet18'"),
    (["--model", "mlp"], "use smallcnn or resnet18"),
    (["--epochs", "0"], "epochs (--epochs): input should be greater than or equal to 1"),
])
def test_bad_training_options(trained, tmp_path, args, match):
    result = invoke("train", "--data", trained / "tiny.npz", "--out", tmp_path / "r", "--no-progress", *args)
    assert_one_line_error(result, match)
    assert not (tmp_path / "r" / "model.pt").exists()


def test_bad_data(tmp_path):
    nan = write_npz(tmp_path / "nan.npz", counts=(4, 4, 4), val_images=np.full((4, 16, 16), np.nan))
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(write_npz(tmp_path / "ok.npz").read_bytes()[:300])
    labels = write_npz(tmp_path / "lab.npz", counts=(4, 4, 4), test_labels=np.array([[0], [1], [-3], [1]]))
    empty = write_npz(tmp_path / "empty.npz", counts=(8, 8, 0))
    keys = tmp_path / "keys.npz"
    np.savez(keys, x=np.zeros(3))
    cases = [(nan, "NaN pixels"), (truncated, "not a readable .npz"), (labels, "found -3"),
             (empty, "test split is empty"), (keys, "lacks the keys"), (tmp_path / "none.npz", "does not exist"),
             ("pneumonimnist", "did you mean 'pneumoniamnist'")]
    for data, match in cases:
        assert_one_line_error(invoke("train", "--data", data, "--out", tmp_path / "r", *FAST), match)


def test_missing_dataset_offline_names_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDPRUNE_DATA", raising=False)
    result = invoke("train", "--data", "octmnist@128", "--out", tmp_path / "r", *FAST)
    assert_one_line_error(result, "octmnist_128.npz is not in --data-dir, $MEDPRUNE_DATA or")


def test_table_training_with_subgroup(tiny_table, tmp_path):
    result = invoke("train", "--data", tiny_table, "--label-column", "Outcome", "--subgroup", "Sex", "--model", "mlp",
                    "--out", tmp_path / "t", "--epochs", "3", "--batch-size", "16", "--no-progress")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert metrics["data"]["source"]["subgroups"] == ["Sex"]
    # evaluate re-derives the same split and encoding from what the model recorded
    out = tmp_path / "e.json"
    assert invoke("evaluate", "--model", tmp_path / "t", "--json", out, "--repeats", "1").exit_code == 0
    assert json.loads(out.read_text())["auroc"] == pytest.approx(metrics["auroc"])


def test_table_errors(tiny_table, tmp_path):
    base = ["train", "--data", tiny_table, "--model", "mlp", "--out", tmp_path / "t", "--no-progress"]
    assert_one_line_error(invoke(*base), "--label-column COLUMN")
    assert_one_line_error(invoke(*base, "--label-column", "Outcome", "--subgroup", "Race"), "column 'Race'")


def test_list_and_unknown_list():
    result = invoke("list", "models")
    assert result.exit_code == 0 and "efficientnet-b0" in result.output
    assert_one_line_error(invoke("list", "criterias"), "unknown list 'criterias': choose models, datasets, criteria")


def test_an_image_folder_trains_prunes_and_validates(tmp_path):
    from tests.unit.data.test_folders import _write_folder

    folder = _write_folder(tmp_path / "xray", n=180)
    result = invoke("train", "--data", folder, "--image-size", "16", "--positive-class", "pneumonia", "--out",
                    tmp_path / "run", *FAST)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["source"]["image_size"] == 16 and metrics["positive_class"] == "pneumonia"
    steps = [("prune", "--model", tmp_path / "run", "--criterion", "magnitude", "--structured", "--target",
              "macs=0.5", "--finetune-epochs", "1", "--out", tmp_path / "pruned", "--no-progress"),
             ("validate", "--reference", tmp_path / "run", "--candidate", tmp_path / "pruned", "--out",
              tmp_path / "val")]
    for step in steps:
        result = invoke(*step)
        assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "val" / "validation.json").read_text())
    from medprune.data import load_data

    test_cases = len(load_data(folder, image_size=16, positive_class="pneumonia").split("test"))
    assert record["positive_class"] == "pneumonia" and record["data"]["n"]["test"] == test_cases == 37


def test_predict_new_images_and_table_rows(tmp_path, tiny_table):
    from PIL import Image

    from tests.unit.data.test_folders import _write_folder

    folder = _write_folder(tmp_path / "xray", n=180)
    assert invoke("train", "--data", folder, "--image-size", "16", "--positive-class", "pneumonia", "--out",
                  tmp_path / "run", *FAST).exit_code == 0
    new = tmp_path / "new"
    new.mkdir()
    for i in range(5):
        Image.fromarray(np.full((20, 20), 40 * i, np.uint8)).save(new / f"patient {i}, scan.png")
    result = invoke("predict", "--model", tmp_path / "run", "--data", new, "--out", tmp_path / "pred.csv")
    assert result.exit_code == 0, result.output
    import csv

    rows = list(csv.DictReader((tmp_path / "pred.csv").open()))
    assert [r["case"] for r in rows] == [f"patient {i}, scan.png" for i in range(5)]
    assert {r["prediction"] for r in rows} <= {"normal", "pneumonia"}
    assert all(abs(float(r["p_normal"]) + float(r["p_pneumonia"]) - 1) < 1e-5 for r in rows)
    assert all((float(r["p_pneumonia"]) >= float(r["threshold"])) == (r["prediction"] == "pneumonia") for r in rows)
    assert invoke("train", "--data", tiny_table, "--label-column", "Outcome", "--model", "mlp", "--out", tmp_path / "t",
                  *FAST).exit_code == 0
    result = invoke("predict", "--model", tmp_path / "t", "--data", tiny_table, "--out", tmp_path / "t.csv")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 121
    assert_one_line_error(invoke("predict", "--model", tmp_path / "run", "--data", tmp_path / "nope", "--out",
                                 tmp_path / "x.csv"), "does not exist")


def test_the_label_column_keeps_its_older_flag_for_one_release(tiny_table, tmp_path):
    result = invoke("train", "--data", tiny_table, "--target", "Outcome", "--model", "mlp", "--out", tmp_path / "t",
                    *FAST)
    assert result.exit_code == 0, result.output
    assert "deprecated" in result.output and "--label-column Outcome" in result.output
    spec = load_checkpoint(tmp_path / "t" / "model.pt").spec
    assert spec.data["label_column"] == "Outcome" and "target" not in spec.data
    assert_one_line_error(invoke("train", "--data", tiny_table, "--target", "Outcome", "--label-column", "Sex",
                                 "--model", "mlp", "--out", tmp_path / "u", *FAST), "disagree")


@pytest.mark.parametrize(("args", "said"), [
    (["train", "--bogus"], "No such option: --bogus"),
    (["train", "--data", "x", "--epochs", "many"], "Invalid value for '--epochs'"),
    (["validate"], "Missing option '--reference'"),
])
def test_usage_errors_of_the_console_command_are_one_line_like_ours(args, said):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "medprune", *args], capture_output=True, text=True)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and said in lines[0], done.stderr
    assert "--help" in lines[0] and not done.stdout  # where to look next; no boxed panel, no usage block
