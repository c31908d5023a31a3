"""`medprune validate` end to end: verdicts, report contents and one-line errors."""

import json
import re

import numpy as np

import pytest
import torch

from medprune.models import load_checkpoint, save_checkpoint
from tests.conftest import needs_shared_data, shared_data_dir, write_npz
from tests.integration.test_cli import assert_one_line_error, invoke

CONTRACT = {"verdict", "metric", "margin", "delta", "ci_low", "ci_high", "delong_p"}



def assert_verdict_follows_the_endpoints(candidate, *, alpha, too_few=""):
    """The decision rule, restated: any inferior endpoint makes the candidate inferior; every endpoint
    non-inferior (and the Holm-adjusted p below alpha/2) makes it non-inferior; otherwise inconclusive."""
    ends = candidate["endpoints"]
    unproven = [name for name, e in ends.items() if e["verdict"] != "non-inferior"]
    if too_few:
        assert candidate["verdict"] == "inconclusive" and candidate["verdict_reason"] == too_few
    elif any(e["verdict"] == "inferior" for e in ends.values()):
        assert candidate["verdict"] == "inferior"
    elif unproven:
        assert candidate["verdict"] == "inconclusive" and candidate["failed_endpoints"] == unproven
    else:
        assert candidate["verdict"] == ("non-inferior" if candidate["p_adjusted"] < alpha / 2 else "inconclusive")


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
    assert damaged["verdict"] == "inferior" and damaged["delta"] < -0.02 and "auroc" in damaged["failed_endpoints"]
    assert damaged["verdict_reason"].startswith("auroc: upper bound")
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
    assert cand["delong"] is None
    assert set(cand["endpoints"]) == {"auroc", "sensitivity", "specificity"}
    assert_verdict_follows_the_endpoints(cand, alpha=0.05)


def test_a_class_missing_from_test_is_not_hurt_most_and_the_verdict_says_why(tmp_path):
    from tests.conftest import make_images

    images, labels = make_images(120, 16, 3, 3, np.random.default_rng(5))
    keep = labels[:, 0] != 2
    npz = write_npz(tmp_path / "three.npz", n_classes=3, channels=3, counts=(150, 60, 120),
                    test_images=images[keep], test_labels=labels[keep])
    _train(npz, tmp_path / "ref", epochs=2)
    _train(npz, tmp_path / "cand", epochs=1)
    result = invoke("validate", "--reference", tmp_path / "ref", "--candidate", tmp_path / "cand", "--out",
                    tmp_path / "report")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "report" / "validation.json").read_text())
    cand = record["candidates"][0]
    assert cand["class_hurt_most"]["class"] != "2"
    assert cand["verdict"] == "inconclusive" and "0 '2'" in cand["verdict_reason"]


def test_alpha_sets_the_confidence_level_of_every_interval_label(models, tmp_path):
    out = tmp_path / "report"
    result = invoke("validate", "--reference", models / "ref", "--candidate", models / "ref", "--alpha", "0.1",
                    "--out", out)
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert "90% CI" in html and "95% CI" not in html and "90% CI" in result.output


def test_match_sensitivity_gives_each_candidate_its_own_validation_threshold(models, tmp_path):
    from medprune import api
    from medprune.evaluation.predict import predict_proba

    out = tmp_path / "report"
    result = invoke("validate", "--reference", models / "ref", "--candidate", models / "damaged",
                    "--candidate-threshold", "match-sensitivity", "--out", out)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "validation.json").read_text())
    assert record["protocol"]["candidate_threshold"] == "match-sensitivity"
    assert "never on test" in record["protocol"]["threshold"]
    cand = record["candidates"][0]
    assert cand["threshold"] != record["threshold"]
    reference, damaged = api.load_model(models / "ref"), api.load_model(models / "damaged")
    val = api.load_data_for(reference).split("val")
    pre = api.load_data_for(reference).preprocessing

    def val_sensitivity(model, threshold):
        return float(np.mean(predict_proba(model.model, val, pre)[val.y == 1, 1] >= threshold))

    target = val_sensitivity(reference, record["threshold"])
    assert val_sensitivity(damaged, cand["threshold"]) >= target
    assert "at the reference threshold" not in cand["verdict_reason"]  # each candidate had its own threshold


def test_mismatched_inputs(models, tmp_path):
    _train(write_npz(tmp_path / "three.npz", n_classes=3), tmp_path / "three", epochs=1)
    _train(write_npz(tmp_path / "big.npz", size=24), tmp_path / "big", epochs=1)
    base = ["validate", "--reference", models / "ref", "--out", tmp_path / "r"]
    assert_one_line_error(invoke(*base, "--candidate", tmp_path / "three"), "predicts classes")
    assert_one_line_error(invoke(*base, "--candidate", tmp_path / "big"), "inputs of shape (1, 24, 24)")
    assert_one_line_error(invoke(*base, "--candidate", models / "ref", "--margin", "0"), "margin of auroc must be in (0, 1)")
    assert_one_line_error(invoke(*base, "--candidate", models / "ref", "--margin", "-0.1"), "margin of auroc must be in")
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
    train = ["train", "--data", csv, "--label-column", "HeartDisease", "--subgroup", "Sex", "--model", "mlp",
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
    html = (out / "report.html").read_text()
    assert "Forest plot of Sex" in html
    table = html[html.index("Forest plot of Sex"):]
    table = table[: table.index("</table>")]
    headers = re.findall(r"<th>(.*?)</th>", table)
    assert len(headers) == 7 and all(headers)  # every column named, the finding column included
    operating = re.findall(r'<td style="text-align:left">(.*?)</td>', table, re.S)
    assert len(operating) == 2  # one per group, the first row included
    assert all("sensitivity" in cell and "specificity" in cell and "auroc" not in cell for cell in operating)
    unknown = invoke("validate", "--reference", tmp_path / "ref", "--candidate", tmp_path / "cand", "--subgroup",
                     "Race", "--out", tmp_path / "r2")
    assert_one_line_error(unknown, "column 'Race' is not in heart_disease.csv")


def test_validate_predictions_agrees_with_the_run_directory_verb(models, tmp_path):
    import medprune
    from medprune import api
    from medprune.evaluation.predict import predict_proba

    out = tmp_path / "report"
    assert invoke("validate", "--reference", models / "ref", "--candidate", models / "damaged", "--out",
                  out).exit_code == 0
    cli = json.loads((out / "validation.json").read_text())
    reference, damaged = api.load_model(models / "ref"), api.load_model(models / "damaged")
    dataset = api.load_data_for(reference)
    test = dataset.split("test")
    probs = [predict_proba(m.model, test, dataset.preprocessing) for m in (reference, damaged)]
    report = medprune.validate_predictions(test.y, probs[0], {"damaged": probs[1]}, threshold=cli["threshold"],
                                           margins=0.01, positive_class=dataset.class_names[1],
                                           class_names=dataset.class_names)
    ours, theirs = report.to_dict()["candidates"][0], cli["candidates"][0]
    assert ours["verdict"] == theirs["verdict"] and ours["failed_endpoints"] == theirs["failed_endpoints"]
    for name in ("auroc", "sensitivity", "specificity"):
        for key in ("delta", "ci_low", "ci_high", "p_noninferiority"):
            assert ours["endpoints"][name][key] == pytest.approx(theirs["endpoints"][name][key])


def test_robustness_judges_every_candidate_on_corrupted_images(models, tmp_path):
    out = tmp_path / "rob"
    result = invoke("validate", "--reference", models / "ref", "--candidate", models / "ref", "--candidate",
                    models / "damaged", "--robustness", "pixelate,gaussian_noise", "--n-resamples", "1000", "--out", out)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "validation.json").read_text())
    rob = record["robustness"]
    assert rob["kind"] == "grey" and [c["name"] for c in rob["corruptions"]] == ["pixelate", "gaussian_noise"]
    assert len(rob["conditions"]) == 10 and record["protocol"]["robustness"] == "pixelate,gaussian_noise"
    same, damaged = record["candidates"]
    assert same["robustness"]["verdict"] == "non-inferior"  # the reference itself loses nothing under any corruption
    assert damaged["robustness"]["worst_corruption"] in ("pixelate", "gaussian_noise")
    html = (out / "report.html").read_text()
    assert "On degraded images" in html and "loses most" in result.output
    assert_one_line_error(invoke("validate", "--reference", models / "ref", "--candidate", models / "ref",
                                 "--robustness", "gausian_noise", "--out", tmp_path / "bad"),
                          "did you mean 'gaussian_noise'")


def _browser() -> str | None:
    import shutil

    return next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome", "chrome")
                 if shutil.which(b)), None)


def _rendered_tables(html_path):
    """The report as a headless browser builds it (its DOM after parsing), as tables of cell texts."""
    import subprocess
    from html.parser import HTMLParser

    dom = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          html_path.resolve().as_uri()], capture_output=True, text=True, timeout=120).stdout

    class Tables(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.cell, self.text = [], None, []

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables.append([])
            elif tag == "tr" and self.tables:
                self.tables[-1].append([])
            elif tag in ("td", "th"):
                self.cell = []

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                self.tables[-1][-1].append(" ".join("".join(self.cell).split()))
                self.cell = None

        def handle_data(self, data):
            self.text.append(data)
            if self.cell is not None:
                self.cell.append(data)

    parser = Tables()
    parser.feed(dom)
    return parser.tables, " ".join("".join(parser.text).split())


@pytest.mark.skipif(_browser() is None, reason="no headless Chromium on this machine (apt-get install chromium)")
def test_the_report_reads_right_in_a_headless_browser(models, tmp_path):
    n = 200
    (tmp_path / "meta.csv").write_text("site\n" + "\n".join("A" if i % 3 else "B" for i in range(n)) + "\n")
    out = tmp_path / "report"
    result = invoke("validate", "--reference", models / "ref", "--candidate", models / "damaged", "--subgroup", "site",
                    "--subgroup-file", tmp_path / "meta.csv", "--robustness", "pixelate", "--n-resamples", "1000",
                    "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    tables, text = _rendered_tables(out / "report.html")
    subgroup = next(t for t in tables if t[0] and t[0][0] == "site")
    header, rows = subgroup[0], subgroup[1:]
    assert header[-1] == "finding" and all(header)  # every column headed
    assert [r[0] for r in rows] == ["A", "B"]
    for row in rows:  # as many cells as headings, and each row's operating point names its own endpoints
        assert len(row) == len(header)
        operating = row[header.index(next(h for h in header if h.startswith("operating point")))]
        assert "sensitivity" in operating and "specificity" in operating
    robustness = json.loads((out / "validation.json").read_text())["candidates"][0]["robustness"]
    assert f"On corrupted images: {robustness['verdict']}" in text
    assert "at severity 5" in text and "nan" not in text.lower().split()
