"""`medprune compare`: every technique runs, is measured alike and validated; rows resume; bad input is one line."""

import json
from pathlib import Path

import pytest

from medprune.compress import TECHNIQUES
from tests.conftest import write_npz
from tests.integration.test_validate_cli import assert_verdict_follows_the_endpoints
from tests.integration.test_cli import assert_one_line_error, invoke

pytestmark = pytest.mark.openvino  # compare times OpenVINO twins of every row in the test process

RECIPE = """\
data: {data}
reference:
  train: {{model: smallcnn, epochs: 3, batch_size: 16}}
budget: {{epochs: 1, batch_size: 16}}
validation: {{n_resamples: 1000, margins: 0.05}}
measure: {{latency_repeats: 3}}
techniques:
  - {{technique: prune, criterion: taylor, target: macs=0.5}}
  - {{technique: quantize}}
  - {{name: int8-dynamic, technique: quantize, dynamic: true}}
  - {{technique: lowrank, target: macs=0.6}}
  - {{technique: distill, student: smallcnn, student_kwargs: {{width: 8}}, epochs: 2}}
  - {{technique: regularize, penalty: group-lasso}}
  - {{technique: dropout}}
  - {{technique: targeted-dropout}}
  - name: chain
    chain: [{{technique: prune}}, {{technique: distill}}, {{technique: quantize}}]
"""

ROW_KEYS = {"name", "params", "macs", "size_bytes", "size_gzip_bytes", "latency_ms", "auroc", "auroc_ci",
            "sensitivity", "specificity", "ece", "wall_time_s", "fastest_b32_ms", "speedup_b32_vs_reference_pytorch"}


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    data = write_npz(root / "tiny.npz", counts=(128, 64, 64))
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE.format(data=data))
    result = invoke("compare", recipe, "--out", root / "out", "--no-progress")
    assert result.exit_code == 0, result.output
    return root


def test_every_technique_appears_with_measured_figures(compared):
    record = json.loads((compared / "out" / "comparison.json").read_text())
    rows = {row["name"]: row for row in record["rows"]}
    used = {t for row in record["rows"] for t in row["techniques"]}
    assert used == set(TECHNIQUES.names())
    assert len(rows) == 10 and rows["reference"]["latency_ms"]["pytorch"]["batch32"] > 0
    judged = {c["path"]: c for c in json.loads((compared / "out" / "validation" / "validation.json").read_text())[
        "candidates"]}
    markdown = (compared / "out" / "comparison.md").read_text()
    for name, row in rows.items():
        assert ROW_KEYS <= set(row), name
        assert row["params"] > 0 and row["macs"] > 0 and row["size_gzip_bytes"] > 0
        assert row["latency_ms"]["onnxruntime"]["batch1"] > 0 and row["auroc_ci"][0] <= row["auroc"] <= row["auroc_ci"][1]
        if name != "reference":
            candidate = next(c for path, c in judged.items() if path.startswith(str(Path(row["model_path"]).parent)))
            assert (candidate["verdict"], candidate["failed_endpoints"]) == (row["verdict"], row["failed_endpoints"])
            assert_verdict_follows_the_endpoints(candidate, alpha=0.05)
            assert row["wall_time_s"] > 0
            if row["failed_endpoints"]:  # the table names the endpoint that kept the row from non-inferiority
                assert f"{row['verdict']} ({', '.join(row['failed_endpoints'])})" in markdown
    assert rows["quantize"]["latency_ms"]["pytorch"] is None  # int8 runs in ONNX Runtime only
    assert rows["prune"]["macs"] <= 0.51 * rows["reference"]["macs"]
    assert rows["distill"]["params"] < rows["reference"]["params"] / 4
    assert rows["chain"]["size_gzip_bytes"] < rows["prune"]["size_gzip_bytes"]  # int8 on top of pruning
    for name in ("comparison.md", "comparison.html", "validation/report.html", "validation/validation.json"):
        assert (compared / "out" / name).stat().st_size > 0
    assert "| targeted-dropout |" in markdown
    # the fp32 twins used for timing live under --out, never beside the user's (or the reference's) model
    assert (compared / "out" / "onnx" / "reference" / "model-fp32.onnx").is_file()
    assert not list((compared / "out" / "reference").glob("*.onnx"))


def test_resume_reuses_finished_rows_and_refuses_to_clobber(compared):
    recipe, out = compared / "recipe.yaml", compared / "out"
    assert_one_line_error(invoke("compare", recipe, "--out", out, "--no-progress"), "already holds a comparison")
    before = json.loads((out / "comparison.json").read_text())
    result = invoke("compare", recipe, "--out", out, "--no-progress", "--resume")
    assert result.exit_code == 0, result.output
    after = json.loads((out / "comparison.json").read_text())
    assert all(row.get("reused", True) for row in after["rows"])
    assert [r["auroc"] for r in after["rows"]] == [r["auroc"] for r in before["rows"]]  # same models re-measured


def test_a_recipe_with_an_unknown_technique_is_one_line(tmp_path):
    data = write_npz(tmp_path / "tiny.npz")
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(RECIPE.format(data=data).replace("technique: lowrank", "technique: low-rank"))
    assert_one_line_error(invoke("compare", recipe, "--out", tmp_path / "out"), "unknown technique 'low-rank'")
    assert not (tmp_path / "out").exists()


def test_a_recipe_asking_for_robustness_gets_the_worst_corruption_per_row(tmp_path):
    data = write_npz(tmp_path / "tiny.npz", counts=(128, 64, 64))
    recipe = tmp_path / "recipe.yaml"
    head = RECIPE.split("techniques:")[0].format(data=data)
    head = head.replace("validation: {n_resamples: 1000, margins: 0.05}",
                        "validation: {n_resamples: 1000, robustness: 'pixelate,contrast_down'}")
    recipe.write_text(head + "techniques:\n  - {technique: quantize}\n")
    result = invoke("compare", recipe, "--out", tmp_path / "out", "--no-progress")
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "out" / "comparison.json").read_text())["rows"]
    assert rows[1]["worst_corruption"] in ("pixelate", "contrast_down") and "robustness_verdict" in rows[1]
    assert "worst corruption" in (tmp_path / "out" / "comparison.md").read_text()
