"""`medprune import`: networks trained elsewhere become run directories every verb accepts."""

import json

import pytest
import torch

from tests.conftest import write_npz
from tests.integration.test_cli import assert_one_line_error, invoke

KWARGS = json.dumps({"spatial_dims": 2, "n_input_channels": 1, "num_classes": 2})


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from monai.networks.nets import resnet18

    root = tmp_path_factory.mktemp("import")
    torch.manual_seed(0)
    torch.save(resnet18(spatial_dims=2, n_input_channels=1, num_classes=2).state_dict(), root / "w.pt")
    write_npz(root / "tiny.npz", counts=(96, 64, 64))
    return root


def test_a_monai_network_is_imported_pruned_exported_and_validated(weights, tmp_path):
    npz = weights / "tiny.npz"
    result = invoke("import", "--monai", "resnet18", "--kwargs", KWARGS, "--weights", weights / "w.pt", "--data", npz,
                    "--out", tmp_path / "imported")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "imported" / "metrics.json").read_text())
    assert metrics["imported"]["name"] == "monai:resnet18" and metrics["threshold"] is not None
    steps = [("prune", "--model", tmp_path / "imported", "--criterion", "magnitude", "--structured", "--target", "macs=0.5",
              "--finetune-epochs", "0", "--out", tmp_path / "pruned", "--no-progress"),
             ("export", "--model", tmp_path / "pruned", "--int8", "--calibration-batches", "1", "--out",
              tmp_path / "pruned.onnx"),
             ("validate", "--reference", tmp_path / "imported", "--candidate", tmp_path / "pruned", "--candidate",
              tmp_path / "pruned.onnx", "--out", tmp_path / "val")]
    for step in steps:
        result = invoke(*step)
        assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "val" / "validation.json").read_text())
    assert [c["architecture"] for c in record["candidates"]][0] == "monai:resnet18"


def test_a_bundle_made_with_monai_bundle_tools(weights, tmp_path):
    from monai.bundle.scripts import init_bundle
    from monai.networks.nets import resnet18

    torch.manual_seed(0)
    init_bundle(str(tmp_path / "bundle"), network=resnet18(spatial_dims=2, n_input_channels=1, num_classes=2))
    config_path = tmp_path / "bundle" / "configs" / "inference.json"
    config = json.loads(config_path.read_text())
    config["channels"] = 1
    config["network_def"] = {"_target_": "monai.networks.nets.resnet18", "spatial_dims": 2,
                             "n_input_channels": "@channels", "num_classes": 2}
    config_path.write_text(json.dumps(config))
    result = invoke("import", "--bundle", tmp_path / "bundle", "--data", weights / "tiny.npz", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["imported"]["kwargs"]["n_input_channels"] == 1 and metrics["imported"]["weights_sha256"]


def test_your_own_factory_on_a_table(tiny_table, tmp_path):
    kwargs = json.dumps({"in_features": 7, "out_features": 2})
    result = invoke("import", "--factory", "torch.nn:Linear", "--kwargs", kwargs, "--data", tiny_table, "--target",
                    "Outcome", "--out", tmp_path / "linear")
    assert result.exit_code == 0, result.output
    # the checkpoint names the factory, but only the user's own word lets it run again
    assert_one_line_error(invoke("evaluate", "--model", tmp_path / "linear", "--repeats", "1"),
                          "--trust-factory torch.nn:Linear")
    trusted = invoke("--trust-factory", "torch.nn:Linear", "evaluate", "--model", tmp_path / "linear", "--repeats", "1")
    assert trusted.exit_code == 0, trusted.output


def test_import_mistakes_are_one_line(weights, tmp_path):
    npz, base = weights / "tiny.npz", ["import", "--data", weights / "tiny.npz", "--out", tmp_path / "x"]
    assert_one_line_error(invoke(*base, "--monai", "resnet18", "--kwargs", "{spatial"), "--kwargs is not JSON")
    assert_one_line_error(invoke(*base), "give exactly one of --monai")
    assert_one_line_error(invoke(*base, "--monai", "resnet81", "--kwargs", KWARGS),
                          "'resnet81' is not a network of monai.networks.nets: did you mean 'resnet18'")
    three = json.dumps({"spatial_dims": 2, "n_input_channels": 1, "num_classes": 3})
    assert_one_line_error(invoke(*base, "--monai", "resnet18", "--kwargs", three), "tiny has 2 classes")
    assert_one_line_error(invoke(*base, "--monai", "resnet18", "--kwargs", three, "--weights", weights / "w.pt"),
                          "the weights do not fit the network")
    assert npz.exists() and not (tmp_path / "x" / "model.pt").exists()
