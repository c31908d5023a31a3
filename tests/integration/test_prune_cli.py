"""`medprune prune` end to end on a small synthetic image task."""

import json

import pytest

from medprune import api
from medprune.errors import ConfigError
from medprune.pruning import PruneSettings
from tests.conftest import train_tiny
from tests.integration.test_cli import assert_one_line_error, invoke

FAST = ["--finetune-epochs", "1", "--step-epochs", "1", "--calibration-batches", "1", "--batch-size", "16",
        "--no-progress"]



@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    root = tmp_path_factory.mktemp("dense")
    train_tiny(root, "dense", counts=(96, 48, 48))
    return root


def test_structured_prune_writes_the_contract(dense, tmp_path):
    out = tmp_path / "pruned"
    result = invoke("prune", "--model", dense / "dense", "--criterion", "taylor", "--structured", "--target",
                    "macs=0.5", "--schedule", "iterative:2", "--distill", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    pruning = metrics["pruning"]
    assert {"criterion", "granularity", "target", "achieved", "steps", "wall_time_s"} <= set(pruning)
    assert pruning["granularity"] == "structured" and len(pruning["steps"]) == 2
    assert {"sparsity", "macs_ratio", "params_ratio", "layers"} <= set(pruning["achieved"])
    assert pruning["achieved"]["macs_ratio"] <= 0.5
    assert pruning["steps"][0]["macs_ratio"] > pruning["steps"][1]["macs_ratio"]
    assert metrics["reference"]["auroc"] > 0.8 and "auroc" in metrics
    assert metrics["threshold"] == pytest.approx(metrics["reference"]["threshold"])
    assert "| Dense | Pruned |" in (out / "summary.md").read_text()
    evaluated = invoke("evaluate", "--model", out, "--repeats", "1")  # the pruned checkpoint reloads
    assert evaluated.exit_code == 0, evaluated.output


def test_structured_widths_are_multiples_of_round_to(dense, tmp_path):
    out = tmp_path / "pruned"
    result = invoke("prune", "--model", dense / "dense", "--criterion", "magnitude", "--structured", "--target",
                    "macs=0.5", "--round-to", "16", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    pruning = json.loads((out / "metrics.json").read_text())["pruning"]
    layers = {name: w for name, w in pruning["achieved"]["layers"].items() if w["kept"] < w["dense"]}
    assert layers and all(w["kept"] % 16 == 0 for w in layers.values()), layers
    assert pruning["settings"]["round_to"] == 16


def test_unstructured_prune_says_masks_give_no_speedup(dense, tmp_path):
    out = tmp_path / "sparse"
    result = invoke("prune", "--model", dense / "dense", "--criterion", "magnitude", "--target", "sparsity=0.8",
                    "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pruning"]["achieved"]["sparsity"] == pytest.approx(0.8, abs=0.02)
    assert "no CPU speed-up" in metrics["pruning"]["note"]
    assert metrics["efficiency"]["size_gzip_bytes"] < metrics["reference"]["efficiency"]["size_gzip_bytes"]


def test_nm_pattern(dense, tmp_path):
    result = invoke("prune", "--model", dense / "dense", "--criterion", "magnitude", "--pattern", "2:4", "--out",
                    tmp_path / "nm", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "nm" / "metrics.json").read_text())["pruning"]["granularity"] == "n:m"


def test_until_tolerance_stays_within_tolerance(dense, tmp_path):
    out = tmp_path / "tol"
    result = invoke("prune", "--model", dense / "dense", "--criterion", "magnitude", "--structured", "--target",
                    "macs=0.1", "--schedule", "until-tolerance", "--tolerance", "0.02", "--step", "0.3",
                    "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    steps = json.loads((out / "metrics.json").read_text())["pruning"]["steps"]
    kept = [s for s in steps if not s.get("rolled_back")]
    dense_val = max(json.loads(line)["val_auroc"] for line in (dense / "dense" / "train_log.jsonl").open())
    assert all(s["val_auroc"] >= dense_val - 0.02 for s in kept)
    assert steps[-1].get("rolled_back") or steps[-1]["macs_ratio"] <= 0.15


def test_batchnorm_statistics_are_re_estimated_after_channels_are_removed(dense, tmp_path):
    import torch

    from medprune.training.batchnorm import recalibrate_batchnorm
    from medprune.pruning.criterion import CalibrationData
    from medprune.pruning.unstructured import copy_model

    checkpoint = api.load_model(dense / "dense")
    dataset = api.load_data_for(checkpoint)
    settings = PruneSettings(criterion="magnitude", structured=True, target="macs=0.5", finetune_epochs=0,
                             calibration_batches=1, bn_batches=2)
    api.prune(checkpoint, dataset, settings, tmp_path / "p", progress=False)
    pruned = api.load_model(tmp_path / "p").model
    data = CalibrationData.from_dataset(dataset, 2, settings.calibration_batch_size, settings.seed + 1)
    expected = recalibrate_batchnorm(copy_model(pruned), [x for x, _ in data])
    norms = [(a, b) for a, b in zip(pruned.modules(), expected.modules()) if isinstance(a, torch.nn.BatchNorm2d)]
    assert norms and all(torch.allclose(a.running_var, b.running_var, atol=1e-6) for a, b in norms)
    with pytest.raises(ConfigError, match=r"bn batches \(--bn-batches\): input should be greater than or equal to 0"):
        PruneSettings(bn_batches=-1)


def test_interrupted_prune_resumes_after_the_last_finished_step(dense, tmp_path):
    checkpoint = api.load_model(dense / "dense")
    dataset = api.load_data_for(checkpoint)
    settings = PruneSettings(criterion="magnitude", structured=True, target="macs=0.4", schedule="iterative:2",
                             finetune_epochs=1, calibration_batches=1, batch_size=16)

    def stop_at_second(message):
        if message.startswith("step 2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.prune(checkpoint, dataset, settings, tmp_path / "r", progress=False, log=stop_at_second)
    assert (tmp_path / "r" / "prune_state.pt").exists()
    messages = []
    record = api.prune(checkpoint, dataset, settings, tmp_path / "r", resume=True, progress=False, log=messages.append)
    assert messages[0] == "resuming after step 1"
    assert [s["step"] for s in record["pruning"]["steps"]] == [1, 2]
    assert not (tmp_path / "r" / "prune_state.pt").exists()


@pytest.mark.parametrize("args, match", [
    (["--target", "macs=1.5", "--structured"], "outside (0, 1]"),
    (["--method", "taylr"], "did you mean 'taylor'"),
    (["--unstructured", "--target", "macs=0.5"], "needs channels removed"),
    (["--structured", "--target", "sparsity=0.5"], "removes channels"),
    (["--schedule", "iterative"], "iterative:K"),
    (["--structured", "--target", "macs=0.5", "--round-to", "0"],
     "round to (--round-to): input should be greater than or equal to 1, got 0"),
])
def test_bad_prune_options(dense, tmp_path, args, match):
    result = invoke("prune", "--model", dense / "dense", "--out", tmp_path / "bad", *FAST, *args)
    assert_one_line_error(result, match)
    assert not (tmp_path / "bad" / "model.pt").exists()


def test_untraceable_model_names_the_layer():
    import torch
    from torch import nn

    from medprune.errors import ConfigError
    from medprune.pruning.groups import dependency_graph

    class NumpyLayer(nn.Module):  # runs for inference (no grad), cannot be traced through autograd
        def forward(self, x):
            return torch.from_numpy(x.numpy())

    model = nn.Sequential(nn.Conv2d(1, 4, 3), NumpyLayer(), nn.Conv2d(4, 4, 3))
    with pytest.raises(ConfigError, match="at layer '1'"):
        dependency_graph(model, torch.zeros(1, 1, 8, 8))


def test_checkpoint_of_another_architecture(dense, tmp_path):
    import torch

    payload = torch.load(dense / "dense" / "model.pt", weights_only=True)
    payload["spec"] = payload["spec"].replace('"name": "smallcnn"', '"name": "resnet18"')
    (tmp_path / "other").mkdir()
    torch.save(payload, tmp_path / "other" / "model.pt")
    result = invoke("prune", "--model", tmp_path / "other", "--out", tmp_path / "p", *FAST)
    assert_one_line_error(result, "saved from a different model")


def test_fine_tuning_with_corruption_augmentation(dense, tmp_path):
    result = invoke("prune", "--model", dense / "dense", "--criterion", "magnitude", "--structured", "--target",
                    "macs=0.5", "--finetune-epochs", "1", "--augment", "corruptions", "--out", tmp_path / "p",
                    "--no-progress")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "p" / "metrics.json").read_text())
    assert metrics["pruning"]["settings"]["augment"] == "corruptions"
    result = invoke("prune", "--model", dense / "dense", "--augment", "heavy", "--out", tmp_path / "q")
    assert result.exit_code == 2 and "augment must be one of auto, none, light, strong, corruptions" in result.output


def test_the_cli_a_recipe_and_python_give_the_same_model_for_the_same_settings(dense, tmp_path):
    import torch

    import medprune
    from medprune.compress.prune import PruneOptions, prune_model
    from medprune.compress.technique import Budget, Context
    from medprune.pruning.criterion import CalibrationData

    same = {"criterion": "taylor", "target": "macs=0.5", "schedule": "iterative:2", "calibration_batches": 1,
            "bn_batches": 0, "step_epochs": 0}
    checkpoint = api.load_model(dense / "dense")
    dataset = api.load_data_for(checkpoint)
    result = invoke("prune", "--model", dense / "dense", "--out", tmp_path / "cli", "--finetune-epochs", "0",
                    "--no-progress", *[f"--{k.replace('_', '-')}={v}" for k, v in same.items()])
    assert result.exit_code == 0, result.output
    cli = api.load_model(tmp_path / "cli").model.state_dict()
    api.prune(checkpoint, dataset, PruneSettings(**same, finetune_epochs=0), tmp_path / "api", progress=False)
    run_directory = api.load_model(tmp_path / "api").model.state_dict()
    ctx = Context(checkpoint, dataset, Budget(epochs=0), tmp_path, progress=False)
    recipe = prune_model(checkpoint, ctx, PruneOptions(**same).settings(ctx.budget))[0].model.state_dict()
    batches = CalibrationData.from_dataset(dataset, 1, PruneSettings().calibration_batch_size, 0).batches
    in_memory = medprune.prune(checkpoint.model, torch.zeros(1, *dataset.input_shape), calibration=batches,
                               recalibrate_bn=False, **same).model.state_dict()
    for other in (run_directory, recipe, in_memory):
        assert other.keys() == cli.keys()
        assert all(torch.equal(other[k], cli[k]) for k in cli)
