"""Segmentation through the verbs: a Decathlon folder trains a 3D U-Net into a run directory that evaluate reads."""

import json

import numpy as np
import pytest

from medprune.models import load_checkpoint
from tests.conftest import write_mask_manifest
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


def test_validate_judges_a_segmentation_candidate_per_structure_and_writes_the_report(tiny_decathlon, tmp_path):
    for name, epochs in (("ref", "4"), ("short", "1")):
        result = invoke("train", "--data", tiny_decathlon, "--model", "unet", "--out", tmp_path / name,
                        "--epochs", epochs, "--batch-size", "4", "--lr", "0.01")
        assert result.exit_code == 0, result.output
    out = tmp_path / "validation"
    result = invoke("validate", "--reference", tmp_path / "ref", "--candidate", tmp_path / "ref", "--candidate",
                    tmp_path / "short", "--out", out)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "validation.json").read_text())
    assert record["task"] == "segmentation" and record["too_few_cases"].startswith("only 5 test cases")
    same, short = record["candidates"]
    assert set(same["endpoints"]) == {"dice:front", "dice:back", "hd95:front", "hd95:back", "safety"}
    assert same["endpoints"]["dice:front"]["delta"] == 0 and same["verdict"] == "inconclusive"  # 5 cases: too few
    assert "volumes" in short and set(short["volumes"]["front"]) == {"candidate_vs_reference", "candidate_vs_truth",
                                                                      "reference_vs_truth"}
    html = (out / "report.html").read_text()
    assert "Does the compressed model contour as well as the original?" in html and html.count("data:image/png") >= 8
    assert "case_0" not in html and "case_0" not in (out / "validation.json").read_text()  # cases by index only
    result = invoke("validate", "--reference", tmp_path / "ref", "--candidate", tmp_path / "short", "--out",
                    tmp_path / "v2", "--margin", "dice=-1")
    assert_one_line_error(result, "cannot read segmentation margin 'dice=-1'")


def test_a_segmentation_run_prunes_structurally_through_its_skips_with_distillation(tiny_decathlon, tmp_path):
    result = invoke("train", "--data", tiny_decathlon, "--model", "unet", "--out", tmp_path / "dense", *FAST)
    assert result.exit_code == 0, result.output
    result = invoke("prune", "--model", tmp_path / "dense", "--out", tmp_path / "pruned", "--structured", "--target",
                    "macs=0.5", "--distill", "--criterion", "taylor", "--finetune-epochs", "1", "--no-progress")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "pruned" / "metrics.json").read_text())
    assert record["task"] == "segmentation" and record["pruning"]["achieved"]["macs_ratio"] <= 0.5
    assert set(record["reference"]["per_structure"]) == set(record["per_structure"]) == {"front", "back"}
    pruned = load_checkpoint(tmp_path / "pruned")
    assert pruned.spec.inference == load_checkpoint(tmp_path / "dense").spec.inference
    assert "val Dice" in result.output


def _trained(tiny_decathlon, tmp_path):
    result = invoke("train", "--data", tiny_decathlon, "--model", "unet", "--out", tmp_path / "dense", *FAST)
    assert result.exit_code == 0, result.output
    return tmp_path / "dense"


def test_onnx_exports_of_a_segmentation_model_are_checked_and_evaluate_runs_them(tiny_decathlon, tmp_path):
    run = _trained(tiny_decathlon, tmp_path)
    result = invoke("export", "--model", run, "--out", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.output
    result = invoke("export", "--model", run, "--out", tmp_path / "m-int8.onnx", "--int8")
    assert result.exit_code == 0, result.output
    assert "Dice" in result.output
    evaluated = tmp_path / "onnx.json"
    result = invoke("evaluate", "--model", tmp_path / "m.onnx", "--json", evaluated, "--repeats", "1")
    assert result.exit_code == 0, result.output
    torch_record = json.loads((run / "metrics.json").read_text())
    onnx_record = json.loads(evaluated.read_text())
    assert onnx_record["efficiency"]["runtime"] == "onnxruntime"
    assert abs(onnx_record["mean_dice"] - torch_record["mean_dice"]) < 1e-3  # fp32 reproduces PyTorch


@pytest.mark.openvino
def test_openvino_int8_export_of_a_segmentation_model_reports_its_dice(tiny_decathlon, tmp_path):
    run = _trained(tiny_decathlon, tmp_path)
    result = invoke("export", "--model", run, "--format", "openvino", "--out", tmp_path / "m.xml", "--int8")
    assert result.exit_code == 0, result.output
    assert "Dice" in result.output
    assert_one_line_error(invoke("export", "--model", run, "--format", "openvino", "--out", tmp_path / "n.xml",
                                 "--int8", "--max-drop", "0.01"), "it is for classifiers")


def test_predict_writes_each_mask_beside_the_csv_with_structure_volumes(tiny_decathlon, tmp_path):
    import nibabel as nib

    run = _trained(tiny_decathlon, tmp_path)
    out = tmp_path / "predictions" / "cases.csv"
    result = invoke("predict", "--model", run, "--data", tiny_decathlon / "imagesTr", "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    rows = out.read_text().splitlines()
    assert rows[0] == "case,mask,volume_ml_front,volume_ml_back" and len(rows) == 25
    case, mask, *_ = rows[1].split(",")
    assert case == "case_000.nii.gz" and mask == "cases_masks/case_000_mask.nii.gz"
    written = nib.load(out.parent / mask)
    source = nib.load(tiny_decathlon / "imagesTr" / "case_000.nii.gz")
    assert written.shape == source.shape and (written.affine == source.affine).all()
    assert set(np.unique(np.asarray(written.dataobj))) <= {0, 1, 2}
    again = invoke("predict", "--model", run, "--data", tiny_decathlon / "imagesTr", "--out", tmp_path / "predictions"
                   / "cases.csv", "--no-progress", "--overwrite")
    assert again.exit_code == 0, again.output
    other = tmp_path / "predictions" / "other.csv"  # a new CSV, but the masks folder of an earlier run is kept safe
    (tmp_path / "predictions" / "other_masks").mkdir()
    (tmp_path / "predictions" / "other_masks" / "case_000_mask.nii.gz").write_bytes(b"earlier")
    assert_one_line_error(invoke("predict", "--model", run, "--data", tiny_decathlon / "imagesTr", "--out", other,
                                 "--no-progress"), "already exists")
    assert (tmp_path / "predictions" / "other_masks" / "case_000_mask.nii.gz").read_bytes() == b"earlier"


def test_an_imported_monai_unet_is_pruned_exported_and_validated(tiny_decathlon, tmp_path):
    import torch
    from monai.networks.nets import UNet

    kwargs = {"spatial_dims": 3, "in_channels": 1, "out_channels": 3, "channels": [8, 16, 32], "strides": [2, 2],
              "num_res_units": 1}
    torch.manual_seed(0)
    torch.save(UNet(**kwargs).state_dict(), tmp_path / "w.pt")
    result = invoke("import", "--monai", "UNet", "--kwargs", json.dumps(kwargs), "--weights", tmp_path / "w.pt",
                    "--data", tiny_decathlon, "--out", tmp_path / "imported")
    assert result.exit_code == 0, result.output
    assert load_checkpoint(tmp_path / "imported").spec.task == "segmentation"
    result = invoke("prune", "--model", tmp_path / "imported", "--out", tmp_path / "pruned", "--structured",
                    "--target", "macs=0.5", "--criterion", "magnitude", "--finetune-epochs", "1", "--no-progress")
    assert result.exit_code == 0, result.output
    result = invoke("export", "--model", tmp_path / "pruned", "--out", tmp_path / "pruned.onnx")
    assert result.exit_code == 0, result.output
    result = invoke("validate", "--reference", tmp_path / "imported", "--candidate", tmp_path / "pruned.onnx",
                    "--out", tmp_path / "validation")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "validation" / "validation.json").read_text())["candidates"][0]["endpoints"]
    bad = dict(kwargs, out_channels=2)
    torch.save(UNet(**bad).state_dict(), tmp_path / "w2.pt")
    assert_one_line_error(invoke("import", "--monai", "UNet", "--kwargs", json.dumps(bad), "--weights",
                                 tmp_path / "w2.pt", "--data", tiny_decathlon, "--out", tmp_path / "bad"),
                          "build it with out_channels=3")


def test_a_search_on_a_segmentation_run_scores_trials_by_validation_dice(tiny_decathlon, tmp_path):
    run = _trained(tiny_decathlon, tmp_path)
    out = tmp_path / "search"
    result = invoke("search", "--model", run, "--trials", "2", "--finetune-epochs", "1", "--finetune-top", "1",
                    "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "search.json").read_text())
    assert record["objective"] == "dice" and record["best"]["latency_batch"] == 1
    test = record["best"]["test"]
    assert set(test["per_structure"]) == {"front", "back"} and 0 <= test["mean_dice"] <= 1
    assert record["best"]["macs_ratio"] <= 0.25 + 1e-9 and "test mean Dice" in result.output
    best = load_checkpoint(out / "best")
    assert best.spec.task == "segmentation" and best.spec.inference == load_checkpoint(run).spec.inference
    assert "test mean Dice" in (out / "search.html").read_text()
    assert_one_line_error(invoke("search", "--model", run, "--trials", "1", "--require", "sensitivity>=0.9",
                                 "--out", tmp_path / "s2", "--no-progress"), "a segmentation search has none")


def test_data_audit_compares_segmentation_cases_by_image(tiny_decathlon, tmp_path):
    result = invoke("data", "audit", "--data", tiny_decathlon, "--json", tmp_path / "audit.json", "--html",
                    tmp_path / "audit.html")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "audit.json").read_text())
    assert record["method"]["near"] == "phash hamming" and set(record["duplicates"]["within"]) == {"train", "val",
                                                                                                  "test"}
    assert record["redundancy"]["train"]["per_class"] is None  # every case holds every structure
    assert "case_0" not in (tmp_path / "audit.html").read_text()  # cases by index only
    run = _trained(tiny_decathlon, tmp_path)
    assert_one_line_error(invoke("data", "audit", "--data", tiny_decathlon, "--model", run),
                          "a segmentation network has no such layer")


@pytest.mark.openvino  # compare times OpenVINO twins of every row in the test process
def test_compare_tabulates_segmentation_techniques_per_structure(tiny_decathlon, tmp_path):
    recipe = tmp_path / "seg.yaml"
    recipe.write_text(  # the reference is trained as medprune train trains a U-Net: its data's batch size
        f"data: {tiny_decathlon}\nreference: {{train: {{epochs: 4, lr: 0.01}}}}\nbudget: {{epochs: 1}}\n"
        "validation: {margins: {dice: 0.05, hd95: 2}, n_resamples: 1000}\nmeasure: {latency_repeats: 3}\n"
        "techniques:\n"
        "  - {name: taylor, technique: prune, criterion: taylor, structured: true, target: macs=0.5, distill: true}\n"
        "  - {name: student, technique: distill, student: basicunet, student_kwargs: {features: [8, 8, 8, 8, 8, 8]}}\n"
        "  - {name: int8, technique: quantize, format: onnx}\n")
    out = tmp_path / "cmp"
    result = invoke("compare", recipe, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "comparison.json").read_text())
    assert record["task"] == "segmentation" and record["structures"] == ["front", "back"]
    trained = json.loads((out / "reference" / "metrics.json").read_text())
    assert trained["model"]["name"] == "unet" and trained["training"]["config"]["batch_size"] == 4
    names = [row["name"] for row in record["rows"]]
    assert names == ["reference", "taylor", "student", "int8"]
    for row in record["rows"]:
        assert set(row["dice"]) == set(row["hd95"]) == {"front", "back"}
        assert row["fastest_case_ms"] > 0 and row["latency_ms"]["pytorch" if row["name"] != "int8" else "onnxruntime"]
    assert record["rows"][1]["steps"][0]["achieved"]["macs_ratio"] <= 0.5
    assert record["rows"][3]["steps"][0]["dice_agreement"] > 0.5  # int8 contours agree with fp32's
    # 5 test cases: too few to call anything non-inferior (a clear loss can still be called inferior), said plainly
    assert "non-inferior" not in {row["verdict"] for row in record["rows"][1:]}
    assert record["too_few"][0].startswith("only 5 test cases") and "at least 73 test cases" in record["too_few"][1]
    assert "Too few to judge" in result.output and "Too few to judge" in (out / "comparison.md").read_text()
    validation = json.loads((out / "validation" / "validation.json").read_text())
    assert [c["name"] for c in validation["candidates"]] == names[1:]
    assert validation["protocol"]["segmentation_margins"]["hd95_mm"] == 2  # the recipe's margins were used
    # the table's Dice is the mean of the per-case Dice the verdict was reached on
    front = np.mean([case[0] for case in validation["candidates"][0]["cases"]["dice"]])
    assert record["rows"][1]["dice"]["front"] == pytest.approx(front)
    assert "Dice agreement with fp32" in (out / "comparison.html").read_text()
    assert "| taylor |" in (out / "comparison.md").read_text() and "HD95" in result.output


def test_compare_says_before_any_work_which_technique_cannot_segment(tiny_decathlon, tmp_path):
    recipe = tmp_path / "seg.yaml"
    recipe.write_text(f"data: {tiny_decathlon}\nreference: {{path: {tmp_path / 'none'}}}\n"
                      "techniques:\n  - {technique: lowrank, target: macs=0.5}\n")
    assert_one_line_error(invoke("compare", recipe, "--out", tmp_path / "cmp"),
                          "lowrank cannot compress a segmentation network")
    recipe.write_text(f"data: {tiny_decathlon}\nreference: {{path: {tmp_path / 'none'}}}\n"
                      "validation: {endpoints: [auroc]}\ntechniques:\n  - {technique: prune, target: macs=0.5}\n")
    assert_one_line_error(invoke("compare", recipe, "--out", tmp_path / "cmp2"), "only a classifier's verdict reads")



def test_the_segmentation_report_reads_right_in_a_headless_browser(tiny_decathlon, tmp_path):
    from tests.integration.test_validate_cli import _browser, _rendered_tables

    if _browser() is None:
        pytest.skip("no headless Chromium on this machine (apt-get install chromium)")
    for name, epochs in (("ref", "4"), ("short", "1")):
        result = invoke("train", "--data", tiny_decathlon, "--model", "unet", "--out", tmp_path / name,
                        "--epochs", epochs, "--batch-size", "4", "--lr", "0.01")
        assert result.exit_code == 0, result.output
    out = tmp_path / "validation"
    result = invoke("validate", "--reference", tmp_path / "ref", "--candidate", tmp_path / "short", "--out", out)
    assert result.exit_code == 0, result.output
    tables, text = _rendered_tables(out / "report.html")
    verdict = next(t for t in tables if t[0] and t[0][0] == "endpoint (co-primary)")
    assert all(len(row) == len(verdict[0]) for row in verdict)  # every row as wide as its headings
    assert [row[0] for row in verdict[1:]] == ["mean Dice front", "HD95 front (mm)", "mean Dice back",
                                               "HD95 back (mm)", "cases whose Dice fell by at most 0.1"]
    volumes = next(t for t in tables if t[0] and t[0][0] == "structure")
    assert volumes[0][-1] == "95% limits of agreement (mL)" and len(volumes) == 1 + 2 * 3  # 2 structures x 3 pairs
    assert "Does the compressed model contour as well as the original?" in text
    assert "nan" not in text.lower().split() and "undefined" not in text.lower().split()


@pytest.mark.openvino  # compare times OpenVINO twins of every row in the test process
def test_compare_judges_every_endpoint_within_the_subgroups_its_recipe_names(tmp_path):
    manifest = write_mask_manifest(tmp_path / "bars", n=40)
    recipe = tmp_path / "bars.yaml"
    recipe.write_text(f"data: {{path: {manifest}, image_column: image, mask_column: mask, subgroups: [site]}}\n"
                      "reference: {train: {epochs: 3, lr: 0.01}}\nmeasure: {latency_repeats: 3}\n"
                      "validation: {n_resamples: 1000}\ntechniques:\n  - {name: int8, technique: quantize}\n")
    out = tmp_path / "cmp"
    result = invoke("compare", recipe, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    validation = json.loads((out / "validation" / "validation.json").read_text())
    rows = validation["candidates"][0]["subgroups"]["site"]
    assert {row["value"] for row in rows} <= {"a", "b"} and len(rows) >= 1
    assert sum(row["n"] for row in rows) == len(validation["reference"]["cases"]["dice"])  # every test case, once
    assert all(set(row["endpoints"]) == {"dice:foreground", "hd95:foreground", "safety"} for row in rows if row["n"] > 1)
