"""Segmentation through the verbs: a Decathlon folder trains a 3D U-Net into a run directory that evaluate reads."""

import json

from medprune.models import load_checkpoint
from tests.integration.test_cli import assert_one_line_error, invoke

FAST = ("--epochs", "4", "--batch-size", "4", "--lr", "0.01")


def test_a_decathlon_folder_trains_a_unet_and_evaluate_reads_the_run(tiny_decathlon, tmp_path):
    out = tmp_path / "run"
    result = invoke("train", "--data", tiny_decathlon, "--model", "unet", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    assert "front" in result.output and "back" in result.output and "HD95" in result.output
    record = json.loads((out / "metrics.json").read_text())
    assert record["task"] == "segmentation" and record["n_cases"] == 5  # 20 % of 24 cases, seeded
    assert set(record["per_structure"]) == {"front", "back"}
    assert len(record["cases"]["dice"]) == 5 and len(record["cases"]["dice"][0]) == 2
    assert record["mean_dice"] > 0.3, record["per_structure"]  # blobs are easy; 4 epochs learn something
    spec = load_checkpoint(out).spec
    assert spec.task == "segmentation" and spec.inference["patch_size"] == [16, 32, 16]
    evaluated = tmp_path / "eval.json"
    result = invoke("evaluate", "--model", out, "--json", evaluated, "--repeats", "1")
    assert result.exit_code == 0, result.output
    again = json.loads(evaluated.read_text())
    assert again["cases"]["dice"] == record["cases"]["dice"]  # the same split, the same predictions


def test_a_classifier_on_segmentation_data_is_one_line(tiny_decathlon, tmp_path):
    assert_one_line_error(invoke("train", "--data", tiny_decathlon, "--model", "smallcnn", "--out", tmp_path / "r",
                                 *FAST), "use unet, basicunet")
