"""predict flags the cases that do not look like the model's training data, and says why."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import needs_shared_data, shared_data_dir
from tests.integration.test_cli import invoke


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@needs_shared_data
def test_ct_and_mr_files_are_flagged_and_the_models_own_test_images_are_not(tmp_path):
    import pydicom.data

    run = tmp_path / "run"
    result = invoke("train", "--data", "pneumoniamnist", "--model", "smallcnn", "--epochs", "2", "--out", run,
                    "--no-progress")
    assert result.exit_code == 0, result.output
    check = json.loads((run / "metrics.json").read_text())["input_check"]
    assert check["cases"] == 624 and check["share"] <= 0.05
    (tmp_path / "dicom").mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(pydicom.data.get_testdata_file(name), tmp_path / "dicom" / name)
    result = invoke("predict", "--model", run, "--data", tmp_path / "dicom", "--out", tmp_path / "dicom.csv",
                    "--reject-ood", "--no-progress")
    assert result.exit_code == 0, result.output
    rows = _rows(tmp_path / "dicom.csv")
    assert [r["in_distribution"] for r in rows] == ["false", "false"]
    assert "DICOM Modality CT (trained on CR/DX)" in rows[0]["ood_reason"]
    assert "DICOM Modality MR" in rows[1]["ood_reason"]
    assert {r["prediction"] for r in rows} == {"withheld (out of distribution)"}
    assert "2 of 2 cases do not look like the model's training data" in result.output
    # the model's own test images, as PNG files: at most 5 % flagged
    images = np.load(Path(shared_data_dir()) / "pneumoniamnist.npz")["test_images"]
    (tmp_path / "png").mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / "png" / f"{i:04d}.png")
    # one of them stretched into a wide picture: resized without a word before, flagged now
    Image.fromarray(images[0]).resize((484, 300)).save(tmp_path / "png" / "wide.png")
    result = invoke("predict", "--model", run, "--data", tmp_path / "png", "--out", tmp_path / "png.csv",
                    "--no-progress")
    assert result.exit_code == 0, result.output
    rows = {r["case"]: r for r in _rows(tmp_path / "png.csv")}
    own = [r for name, r in rows.items() if name != "wide.png"]
    assert sum(r["in_distribution"] == "false" for r in own) <= 0.05 * len(own)
    assert rows["wide.png"]["in_distribution"] == "false" and "aspect ratio 1.61" in rows["wide.png"]["ood_reason"]
