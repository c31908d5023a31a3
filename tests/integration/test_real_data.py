"""End to end on the shared real data (skipped without MEDPRUNE_DATA)."""

import json

from typer.testing import CliRunner

from medprune.cli import app
from tests.conftest import needs_shared_data, shared_data_dir

runner = CliRunner()


@needs_shared_data
def test_demo_runs_on_pneumoniamnist(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--epochs", "1", "--finetune-epochs", "1",
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "demo" / "dense" / "metrics.json").read_text())
    assert metrics["n"] == 624 and metrics["data"]["name"] == "pneumoniamnist"
    assert metrics["auroc"] > 0.85  # one epoch of smallcnn already separates the classes
    pruned = json.loads((tmp_path / "demo" / "pruned" / "metrics.json").read_text())
    assert pruned["pruning"]["achieved"]["macs_ratio"] <= 0.5
    report = json.loads((tmp_path / "demo" / "validation" / "validation.json").read_text())
    assert [c["name"] for c in report["candidates"]] == ["pruned", "pruned-int8.onnx"]
    assert (tmp_path / "demo" / "validation" / "report.html").is_file()


@needs_shared_data
def test_heart_table_mlp_with_subgroup(tmp_path):
    csv = shared_data_dir() / "heart_disease.csv"
    result = runner.invoke(app, ["train", "--data", str(csv), "--target", "HeartDisease", "--subgroup", "Sex",
                                 "--model", "mlp", "--epochs", "20", "--batch-size", "64", "--lr", "3e-3",
                                 "--out", str(tmp_path / "heart"), "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "heart" / "metrics.json").read_text())
    assert metrics["n"] == 184 and metrics["auroc"] > 0.85
