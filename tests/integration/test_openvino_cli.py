"""`medprune export --format openvino` and OpenVINO IR models in evaluate / validate / predict / compare."""

import json

import numpy as np
import pytest

from tests.conftest import train_tiny
from tests.integration.test_cli import assert_one_line_error, invoke

# OpenVINO's thread pools live on in the test process; after them a later in-process search crashed the whole
# suite (segmentation fault), so these tests run in a process of their own (see the Makefile).
pytestmark = pytest.mark.openvino


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("openvino")
    train_tiny(root, "run", counts=(96, 48, 64))
    return root


def test_fp32_ir_matches_pytorch_and_scores_like_it(trained):
    out = trained / "model.xml"
    result = invoke("export", "--model", trained / "run", "--format", "openvino", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.with_suffix(".bin").is_file() and "max |difference|" in result.output
    report = trained / "ov.json"
    assert invoke("evaluate", "--model", out, "--json", report, "--repeats", "1").exit_code == 0
    torch_metrics = json.loads((trained / "run" / "metrics.json").read_text())
    ov_metrics = json.loads(report.read_text())
    assert ov_metrics["auroc"] == pytest.approx(torch_metrics["auroc"], abs=1e-6)
    from medprune.models import load_checkpoint

    assert load_checkpoint(out).spec == load_checkpoint(trained / "run").spec.updated(layers={})  # travels in the IR
    ov_eff, torch_eff = ov_metrics["efficiency"], torch_metrics["efficiency"]
    assert ov_eff["macs"] == torch_eff["macs"]  # recorded at export
    # Counted from the IR's constants: BatchNorm becomes a scale and a shift per channel (four numbers in PyTorch).
    assert 0 < torch_eff["params"] - ov_eff["params"] < 0.01 * torch_eff["params"]
    assert ov_eff["size_bytes"] > out.with_suffix(".bin").stat().st_size  # .xml and .bin together
    assert ov_eff["conditions"]["runtime"].startswith("openvino")


def test_nncf_int8_reports_agreement_and_validates(trained):
    out = trained / "model-int8.xml"
    result = invoke("export", "--model", trained / "run", "--format", "openvino", "--int8", "--calibration-batches",
                    "2", "--out", out)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps lines at the console width, and the path's length varies
    assert "int8 OpenVINO (NNCF) written" in said and "agreement with fp32" in said
    val = invoke("validate", "--reference", trained / "run", "--candidate", out, "--margin", "0.05",
                 "--out", trained / "val")
    assert val.exit_code == 0, val.output
    cand = json.loads((trained / "val" / "validation.json").read_text())["candidates"][0]
    assert cand["efficiency"]["params"] > 0 and set(cand["endpoints"]) == {"auroc", "sensitivity", "specificity"}


def test_accuracy_controlled_int8_keeps_validation_auroc_within_the_drop(trained):
    from medprune import api
    from medprune.evaluation.evaluate import validation_auroc

    out = trained / "model-ac.xml"
    result = invoke("export", "--model", trained / "run", "--format", "openvino", "--int8", "--max-drop", "0.005",
                    "--calibration-batches", "2", "--out", out)
    assert result.exit_code == 0, result.output
    dense, int8 = api.load_model(trained / "run"), api.load_model(out)
    dataset = api.load_data_for(dense)
    assert validation_auroc(int8.model, dataset) >= validation_auroc(dense.model, dataset) - 0.005 - 1e-9


def test_predict_reads_an_ir(trained, tmp_path):
    from PIL import Image

    out = trained / "model.xml"
    if not out.exists():
        assert invoke("export", "--model", trained / "run", "--format", "openvino", "--out", out).exit_code == 0
    folder = tmp_path / "new"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (16, 16), dtype=np.uint8)).save(folder / f"{i}.png")
    result = invoke("predict", "--model", out, "--data", folder, "--out", tmp_path / "p.csv", "--no-progress")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "p.csv").read_text().strip().splitlines()) == 4


def test_bad_openvino_requests(trained, tmp_path):
    base = ["export", "--model", trained / "run", "--format", "openvino"]
    assert_one_line_error(invoke(*base, "--out", tmp_path / "a.onnx"), "writes a .xml file")
    assert_one_line_error(invoke(*base, "--out", tmp_path / "a.xml", "--max-drop", "0.01"), "add --int8")
    assert_one_line_error(invoke(*base, "--out", tmp_path / "a.xml", "--int8", "--max-drop", "2"),
                          "max drop (--max-drop): input should be less than 1")
    assert_one_line_error(invoke(*base, "--out", tmp_path / "a.xml", "--int8", "--dynamic"), "--dynamic is ONNX")
    assert_one_line_error(invoke("export", "--model", trained / "run", "--out", tmp_path / "b.onnx", "--int8",
                                 "--max-drop", "0.01"), "use it with --format openvino")
    (tmp_path / "lonely.xml").write_text("<net/>")
    assert_one_line_error(invoke("evaluate", "--model", tmp_path / "lonely.xml"), "its .bin does not exist")
    assert not list(tmp_path.glob("a.*")) and not list(tmp_path.glob("b.*"))


def test_a_layer_timed_in_openvino_computes_what_pytorch_computes():
    import torch

    from medprune.search.latency import in_runtime

    conv = torch.nn.Conv2d(8, 16, 3, padding=1).eval()
    x = torch.randn(32, 8, 14, 14)
    with torch.no_grad():
        assert float((in_runtime(conv, (8, 14, 14), "openvino")(x) - conv(x)).abs().max()) < 1e-4
        assert float((in_runtime(conv, (8, 14, 14), "onnxruntime")(x) - conv(x)).abs().max()) < 1e-4
