"""End to end on the shared real data (skipped without MEDPRUNE_DATA)."""

import json

import pytest

from typer.testing import CliRunner

from medprune.cli import app
from tests.conftest import needs_shared_data, shared_data_dir

runner = CliRunner()


@pytest.mark.openvino  # the demo times its OpenVINO int8 export
@needs_shared_data
def test_demo_runs_on_pneumoniamnist(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--epochs", "1", "--finetune-epochs", "1",
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "demo" / "dense" / "metrics.json").read_text())
    assert metrics["n"] == 624 and metrics["data"]["name"] == "pneumoniamnist"
    assert metrics["auroc"] > 0.85  # one epoch of resnet18 already separates the classes
    pruned = json.loads((tmp_path / "demo" / "pruned" / "metrics.json").read_text())
    assert pruned["pruning"]["achieved"]["macs_ratio"] <= 0.12  # the deployment benchmark's fastest artefact
    report = json.loads((tmp_path / "demo" / "validation" / "validation.json").read_text())
    names = [c["name"] for c in report["candidates"]]
    assert names[0] == "pruned" and set(names[1:]) == {"pruned-int8.onnx", "pruned-int8.xml"}
    verdicts = {c["name"]: c["verdict"] for c in report["candidates"]}
    # The fastest file shown non-inferior is shipped (faster first in the report), else the pruned model if it is
    # shown non-inferior, else nothing compressed: the dense model stays.
    safe = [n for n in names[1:] + ["pruned"] if verdicts[n] == "non-inferior"]
    shipped = tmp_path / "demo" / (safe[0] if safe else "dense")
    assert f"shippedmodel:{shipped}" in "".join(result.output.split())  # rich may wrap the line
    assert (tmp_path / "demo" / "pruned-int8.onnx").is_file() and (tmp_path / "demo" / "pruned-int8.xml").is_file()
    assert (tmp_path / "demo" / "validation" / "report.html").is_file()


@needs_shared_data
def test_heart_table_mlp_with_subgroup(tmp_path):
    csv = shared_data_dir() / "heart_disease.csv"
    result = runner.invoke(app, ["train", "--data", str(csv), "--label-column", "HeartDisease", "--subgroup", "Sex",
                                 "--model", "mlp", "--epochs", "20", "--batch-size", "64", "--lr", "3e-3",
                                 "--out", str(tmp_path / "heart"), "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "heart" / "metrics.json").read_text())
    assert metrics["n"] == 184 and metrics["auroc"] > 0.85


def _volume_file_test(name: str, side: int, tmp_path) -> None:
    """The official 3D file loads as (N, 1, D, H, W) volumes and a 3D model trains, prunes and validates on it."""
    from medprune.data import load_data

    data = load_data(name, data_dir=shared_data_dir(), allow_download=False)
    assert data.input_shape == (1, side, side, side) and data.class_names == ["normal", "hyperplasia"]
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 1188, "val": 98, "test": 298}
    run, pruned = tmp_path / "run", tmp_path / "pruned"
    steps = [["train", "--data", name, "--model", "smallcnn", "--epochs", "1", "--out", run],
             ["prune", "--model", run, "--criterion", "magnitude", "--structured", "--target", "macs=0.5",
              "--finetune-epochs", "0", "--out", pruned],
             ["validate", "--reference", run, "--candidate", pruned, "--out", tmp_path / "val"]]
    for step in steps:
        result = runner.invoke(app, [str(s) for s in step] + (["--no-progress"] if step[0] != "validate" else []))
        assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["positive_class"] == "hyperplasia" and metrics["auroc"] > 0.6


@needs_shared_data
def test_adrenalmnist3d_volumes_end_to_end(tmp_path):
    _volume_file_test("adrenalmnist3d", 28, tmp_path)


def test_adrenalmnist3d_at_64_when_present(tmp_path):
    import pytest

    folder = shared_data_dir()
    if folder is None or not (folder / "adrenalmnist3d_64.npz").is_file():
        pytest.skip("adrenalmnist3d_64.npz is not in MEDPRUNE_DATA")
    _volume_file_test("adrenalmnist3d@64", 64, tmp_path)
