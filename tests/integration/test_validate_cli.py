"""`medprune validate` end to end: verdicts, report contents and one-line errors."""

import json

import pytest
import torch

from medprune.models import load_checkpoint, save_checkpoint
from tests.conftest import needs_shared_data, shared_data_dir, write_npz
from tests.integration.test_cli import assert_one_line_error, invoke

CONTRACT = {"verdict", "metric", "margin", "delta", "ci_low", "ci_high", "delong_p"}



def _train(npz, out, epochs=4):
    result = invoke("train", "--data", npz, "--out", out, "--epochs", epochs, "--batch-size", "16", "--no-progress")
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("val")
    npz = write_npz(root / "tiny.npz", counts=(128, 64, 200))
    _train(npz, root / "ref")
    damaged = load_checkpoint(root / "ref")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in damaged.model.parameters():
            p.add_(torch.randn_like(p) * p.std().clamp(min=1e-3) * 3)
    (root / "damaged").mkdir()
    save_checkpoint(root / "damaged" / "model.pt", damaged.model, damaged.spec)
    return root


def test_identical_and_damaged_candidates(models):
    out = models / "report"
    result = invoke("validate", "--reference", models / "ref", "--candidate", models / "ref", "--candidate",
                    models / "damaged", "--margin", "0.02", "--recalibrate", "--out", out)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "validation.json").read_text())
    same, damaged = record["candidates"]
    assert CONTRACT <= set(same) and same["verdict"] == "non-inferior" and same["delta"] == 0
    assert damaged["verdict"] in ("inferior", "inconclusive") and damaged["delta"] < -0.02
    assert record["protocol"]["margin"] == 0.02 and "rule" in record["protocol"]
    assert same["p_adjusted"] >= same["p_noninferiority"]  # Holm over the two candidates
    assert {"sensitivity", "specificity", "ppv", "npv"} <= set(same["operating_point"])
    assert "recalibrated" in same["calibration"] and "mcnemar" in damaged
    assert record["reference"]["sha256"] and record["data"]["md5"] and record["versions"]["torch"]
    assert damaged["exemplars"] and "modal_exemplars" in record
    assert "Where most candidates disagree" in (out / "report.html").read_text()
    html = (out / "report.html").read_text()
    assert "NON-INFERIOR" in html.upper() and "data:image/png;base64," in html and "Model card" in html
    assert "http://" not in html and "https://" not in html  # self-contained


def test_multiclass_names_the_class_hurt_most(tmp_path):
    npz = write_npz(tmp_path / "three.npz", n_classes=3, channels=3, counts=(150, 60, 120))
    _train(npz, tmp_path / "ref", epochs=3)
    _train(npz, tmp_path / "cand", epochs=1)
    result = invoke("validate", "--reference", tmp_path / "ref", "--candidate", tmp_path / "cand", "--out",
                    tmp_path / "report")
    assert result.exit_code == 0, result.output
    cand = json.loads((tmp_path / "report" / "validation.json").read_text())["candidates"][0]
    assert len(cand["per_class"]) == 3 and cand["class_hurt_most"]["class"] in ("0", "1", "2")
    assert cand["delong"] is None and cand["verdict"] in ("non-inferior", "inferior", "inconclusive")


def test_mismatched_inputs(models, tmp_path):
    _train(write_npz(tmp_path / "three.npz", n_classes=3), tmp_path / "three", epochs=1)
    _train(write_npz(tmp_path / "big.npz", size=24), tmp_path / "big", epochs=1)
    base = ["validate", "--reference", models / "ref", "--out", tmp_path / "r"]
    assert_one_line_error(invoke(*base, "--candidate", tmp_path / "three"), "predicts classes")
    assert_one_line_error(invoke(*base, "--candidate", tmp_path / "big"), "inputs of shape (1, 24, 24)")
    assert_one_line_error(invoke(*base, "--candidate", models / "ref", "--margin", "0"), "margin must be in (0, 1)")
    assert_one_line_error(invoke(*base, "--candidate", models / "ref", "--margin", "-0.1"), "margin must be in")
    assert_one_line_error(invoke(*base, "--candidate", models / "ref", "--subgroup", "Sex"), "--subgroup needs a CSV")
    assert_one_line_error(invoke(*base, "--candidate", models / "ref", "--metric", "auroc2"), "did you mean 'auroc'")
    assert not (tmp_path / "r" / "validation.json").exists()


def test_subgroup_file_for_image_data(models, tmp_path):
    n = 200
    (tmp_path / "meta.csv").write_text("site\n" + "\n".join("A" if i % 3 else "B" for i in range(n)) + "\n")
    out = tmp_path / "report"
    result = invoke("validate", "--reference", models / "ref", "--candidate", models / "damaged", "--subgroup",
                    "site", "--subgroup-file", tmp_path / "meta.csv", "--out", out)
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "validation.json").read_text())["candidates"][0]["subgroups"]["site"]
    assert [r["group"] for r in rows] == ["A", "B"] and all("ci_low" in r for r in rows)
    (tmp_path / "short.csv").write_text("site\nA\nB\n")
    bad = invoke("validate", "--reference", models / "ref", "--candidate", models / "damaged", "--subgroup", "site",
                 "--subgroup-file", tmp_path / "short.csv", "--out", tmp_path / "r2")
    assert_one_line_error(bad, "has 2 rows but the test split has 200 cases")


@needs_shared_data
def test_heart_disease_subgroups_by_sex(tmp_path):
    csv = shared_data_dir() / "heart_disease.csv"
    train = ["train", "--data", csv, "--target", "HeartDisease", "--subgroup", "Sex", "--model", "mlp",
             "--batch-size", "64", "--lr", "3e-3", "--no-progress"]
    assert invoke(*train, "--epochs", "30", "--out", tmp_path / "ref").exit_code == 0
    assert invoke(*train, "--epochs", "5", "--seed", "1", "--out", tmp_path / "cand").exit_code == 0
    out = tmp_path / "report"
    result = invoke("validate", "--reference", tmp_path / "ref", "--candidate", tmp_path / "cand", "--subgroup", "Sex",
                    "--subgroup", "Age", "--out", out)
    assert result.exit_code == 0, result.output
    cand = json.loads((out / "validation.json").read_text())["candidates"][0]
    sexes = cand["subgroups"]["Sex"]
    assert [r["group"] for r in sexes] == ["F", "M"] and all(r["ci_low"] <= r["delta"] <= r["ci_high"] for r in sexes)
    assert len(cand["subgroups"]["Age"]) == 4  # numeric: quartiles
    assert "Forest plot of Sex" in (out / "report.html").read_text()
    unknown = invoke("validate", "--reference", tmp_path / "ref", "--candidate", tmp_path / "cand", "--subgroup",
                     "Race", "--out", tmp_path / "r2")
    assert_one_line_error(unknown, "column 'Race' is not in heart_disease.csv")
