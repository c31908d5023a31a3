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


def test_a_network_trained_on_0_1_inputs_and_declared_so_scores_as_in_its_own_loop(weights, tmp_path):
    """Trained in the user's own loop on x / 255; imported with --input-range 0,1, medprune's test AUROC equals
    the one computed in that loop, and every later verb (evaluate) feeds the network the same way."""
    import numpy as np
    from monai.networks.nets import resnet18
    from sklearn.metrics import roc_auc_score

    arrays = np.load(weights / "tiny.npz")
    x = torch.from_numpy(arrays["train_images"][:, None] / 255.0).float()
    y = torch.from_numpy(arrays["train_labels"][:, 0]).long()
    torch.manual_seed(0)
    net = resnet18(spatial_dims=2, n_input_channels=1, num_classes=2)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    for _ in range(3):  # the user's own training loop, on [0, 1] inputs
        for batch in torch.split(torch.randperm(len(y)), 32):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(x[batch]), y[batch]).backward()
            optimizer.step()
    net.eval()
    with torch.no_grad():
        test_x = torch.from_numpy(arrays["test_images"][:, None] / 255.0).float()
        own_auroc = roc_auc_score(arrays["test_labels"][:, 0], torch.softmax(net(test_x), 1)[:, 1].numpy())
    torch.save(net.state_dict(), tmp_path / "own.pt")
    result = invoke("import", "--monai", "resnet18", "--kwargs", KWARGS, "--weights", tmp_path / "own.pt", "--data",
                    weights / "tiny.npz", "--input-range", "0,1", "--out", tmp_path / "declared")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "declared" / "metrics.json").read_text())
    assert abs(metrics["auroc"] - own_auroc) <= 1e-6
    again = invoke("evaluate", "--model", tmp_path / "declared", "--repeats", "1", "--json", tmp_path / "again.json")
    assert again.exit_code == 0, again.output
    assert abs(json.loads((tmp_path / "again.json").read_text())["auroc"] - own_auroc) <= 1e-6
    assert_one_line_error(invoke("import", "--monai", "resnet18", "--kwargs", KWARGS, "--data", weights / "tiny.npz",
                                 "--input-range", "0,1", "--mean", "0.5", "--std", "0.2", "--out", tmp_path / "x"),
                          "give --input-range or --mean/--std, not both")


def test_a_bundle_that_scales_to_0_1_is_imported_with_that_range(weights, tmp_path):
    from monai.bundle.scripts import init_bundle
    from monai.networks.nets import resnet18

    torch.manual_seed(0)
    init_bundle(str(tmp_path / "bundle"), network=resnet18(spatial_dims=2, n_input_channels=1, num_classes=2))
    config_path = tmp_path / "bundle" / "configs" / "inference.json"
    config = json.loads(config_path.read_text())
    config["network_def"] = {"_target_": "monai.networks.nets.resnet18", "spatial_dims": 2, "n_input_channels": 1,
                             "num_classes": 2}
    config["preprocessing"] = {"_target_": "Compose", "transforms": [
        {"_target_": "LoadImaged", "keys": "image"},
        {"_target_": "ScaleIntensityRanged", "keys": "image", "a_min": 0, "a_max": 255, "b_min": 0.0, "b_max": 1.0}]}
    config_path.write_text(json.dumps(config))
    result = invoke("import", "--bundle", tmp_path / "bundle", "--data", weights / "tiny.npz", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "input range 0,1" in result.output
    from medprune.models import load_checkpoint

    assert load_checkpoint(tmp_path / "run").spec.preprocessing["mean"] == 0.0
