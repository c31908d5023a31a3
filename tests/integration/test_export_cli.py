"""`medprune export` and ONNX models in evaluate / validate."""

import json
import warnings

import pytest
import torch
from torch import nn

from tests.conftest import train_tiny, write_npz
from tests.integration.test_validate_cli import assert_verdict_follows_the_endpoints
from tests.integration.test_cli import assert_one_line_error, invoke




@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    train_tiny(root, "run", counts=(96, 48, 64))
    return root


def test_fp32_onnx_matches_pytorch_and_is_a_model(trained):
    out = trained / "model.onnx"
    result = invoke("export", "--model", trained / "run", "--out", out)
    assert result.exit_code == 0, result.output
    assert "max |difference|" in result.output
    report = trained / "onnx.json"
    assert invoke("evaluate", "--model", out, "--json", report, "--repeats", "1").exit_code == 0
    torch_metrics = json.loads((trained / "run" / "metrics.json").read_text())
    assert json.loads(report.read_text())["auroc"] == pytest.approx(torch_metrics["auroc"], abs=1e-6)


def test_int8_reports_agreement_and_validates_against_the_reference(trained):
    out = trained / "model-int8.onnx"
    result = invoke("export", "--model", trained / "run", "--out", out, "--int8", "--calibration-batches", "2")
    assert result.exit_code == 0, result.output
    assert "agreement with fp32" in result.output
    val = invoke("validate", "--reference", trained / "run", "--candidate", out, "--margin", "0.05",
                 "--out", trained / "val")
    assert val.exit_code == 0, val.output
    record = json.loads((trained / "val" / "validation.json").read_text())
    cand = record["candidates"][0]
    assert_verdict_follows_the_endpoints(cand, alpha=0.05)
    assert record["too_few_cases"] == "" and cand["efficiency"]["params"] > 0
    # 32 cases per class: even with no disagreement, Tango's interval for sensitivity reaches about -0.107,
    # wider than the 0.05 margin, so the operating point cannot be shown non-inferior on so few cases.
    sens = cand["endpoints"]["sensitivity"]
    if sens["delta"] == 0:
        assert sens["ci_low"] == pytest.approx(-0.1072, abs=1e-3) and cand["verdict"] != "non-inferior"


def test_torchscript_export_is_folded_frozen_and_a_model(trained, tmp_path):
    out = trained / "model.ts"
    result = invoke("export", "--model", trained / "run", "--out", out, "--format", "torchscript")
    assert result.exit_code == 0, result.output
    scripted = torch.jit.load(str(out))
    assert scripted(torch.zeros(2, 1, 16, 16)).shape == (2, 2)
    assert "batch_norm" not in str(scripted.graph)  # folded into the convolutions
    report = trained / "ts.json"
    assert invoke("evaluate", "--model", out, "--json", report, "--repeats", "1").exit_code == 0
    figures = json.loads(report.read_text())
    torch_metrics = json.loads((trained / "run" / "metrics.json").read_text())
    assert figures["auroc"] == pytest.approx(torch_metrics["auroc"], abs=1e-6)
    assert figures["efficiency"]["params"] == torch_metrics["efficiency"]["params"]
    assert "TorchScript" in figures["efficiency"]["conditions"]["runtime"]
    bare = tmp_path / "bare.ts"  # TorchScript without medprune's metadata: not guessed at
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(scripted, str(bare))
    assert_one_line_error(invoke("evaluate", "--model", bare), "has no medprune metadata")


def test_bad_export_requests(trained, tmp_path):
    base = ["export", "--model", trained / "run"]
    assert_one_line_error(invoke(*base, "--out", tmp_path / "a", "--format", "tflite"), "must be one of onnx, openvino")
    assert_one_line_error(invoke(*base, "--out", tmp_path / "a", "--format", "torchscript", "--int8"), "--int8 needs")
    assert_one_line_error(invoke(*base, "--out", tmp_path / "a", "--dynamic"), "add --int8")
    other = write_npz(tmp_path / "big.npz", size=24)
    assert_one_line_error(invoke(*base, "--out", tmp_path / "a.onnx", "--data", other), "expects inputs of shape")
    assert not (tmp_path / "a.onnx").exists()


def test_int8_calibration_data_of_the_wrong_shape_is_refused(trained, tmp_path):
    rgb = write_npz(tmp_path / "rgb.npz", channels=3)  # same size, three channels: calibration cannot feed it
    result = invoke("export", "--model", trained / "run", "--out", tmp_path / "q.onnx", "--int8", "--data", rgb)
    assert_one_line_error(result, "expects inputs of shape (1, 16, 16)")
    assert not (tmp_path / "q.onnx").exists()


def test_dynamic_int8_export_runs_in_onnx_runtime(trained):
    out = trained / "model-dyn.onnx"
    result = invoke("export", "--model", trained / "run", "--out", out, "--int8", "--dynamic")
    assert result.exit_code == 0, result.output
    assert "dynamic int8 ONNX written" in result.output
    assert invoke("export", "--model", trained / "run", "--out", trained / "fp32.onnx").exit_code == 0
    from medprune.models import load_checkpoint

    # The same weights, stored as integers: counted alike, scales and zero points left out.
    assert load_checkpoint(out).model.counts()[0] == load_checkpoint(trained / "fp32.onnx").model.counts()[0]


def test_an_operator_onnx_cannot_express_is_named(tmp_path):
    import medprune
    from medprune.deploy.export import ExportError

    class Unexportable(nn.Module):
        def forward(self, x):
            return torch.special.airy_ai(x).flatten(1)[:, :2]

    with pytest.raises(ExportError, match="cannot export operator 'aten::special_airy_ai' of Unexportable"):
        medprune.export_onnx(Unexportable(), torch.zeros(1, 1, 4, 4), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
