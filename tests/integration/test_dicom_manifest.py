"""A DICOM manifest end to end: the same arrays as the PNG copy, patient-level splits, scanner subgroups in the
validation report (and no patient id in it), and patient leakage found by `data audit`."""

import json

import numpy as np
from PIL import Image

from medprune.data import load_data
from tests.conftest import make_images, write_dicom
from tests.integration.test_cli import FAST, assert_one_line_error, invoke

PATIENTS, PER_PATIENT = 60, 3


def _write(root, split=None):
    images, labels = make_images(PATIENTS * PER_PATIENT, 16, 1, 2, np.random.default_rng(1))
    (root / "dcm").mkdir(parents=True)
    (root / "png").mkdir()
    rows = ["dicom,png,label,patient" + (",split" if split else "")]
    for i, image in enumerate(images):
        patient = i // PER_PATIENT
        label = int(labels[patient * PER_PATIENT, 0])
        write_dicom(root / "dcm" / f"{i}.dcm", image, compress="jpeg2000" if i % 3 == 0 else None,
                    PatientID=f"SECRET{patient:03d}", PatientName=f"Doe^Jane{patient}",
                    Manufacturer=("ACME", "Globex")[patient % 2])
        Image.fromarray(image).save(root / "png" / f"{i}.png")
        extra = f",{split(patient, i)}" if split else ""
        rows.append(f"dcm/{i}.dcm,png/{i}.png,{('normal', 'pneumonia')[label]},SECRET{patient:03d}{extra}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


def test_dicom_and_png_copies_give_identical_arrays_and_the_report_names_scanners_not_patients(tmp_path):
    csv = _write(tmp_path)
    common = dict(label_column="label", group_column="patient", positive_class="pneumonia")
    dicom = load_data(csv, image_column="dicom", **common)
    png = load_data(csv, image_column="png", **common)
    for name in ("train", "val", "test"):
        assert np.array_equal(dicom.split(name).x, png.split(name).x)
        assert np.array_equal(dicom.split(name).y, png.split(name).y)
    assert dicom.input_shape == (1, 16, 16)
    run = tmp_path / "run"
    result = invoke("train", "--data", csv, "--image-column", "dicom", "--label-column", "label", "--group-column",
                    "patient", "--positive-class", "pneumonia", "--model", "smallcnn", "--out", run, *FAST)
    assert result.exit_code == 0, result.output
    result = invoke("validate", "--reference", run, "--candidate", run, "--subgroup", "dicom:Manufacturer", "--out",
                    tmp_path / "val")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "val" / "validation.json").read_text()
    assert "SECRET" not in text and "Doe" not in text
    assert "SECRET" not in (tmp_path / "val" / "report.html").read_text()
    record = json.loads(text)
    groups = record["candidates"][0]["subgroups"]["dicom:Manufacturer"]
    assert {g["group"] for g in groups} == {"ACME", "Globex"} and sum(g["n"] for g in groups) == len(dicom.split("test"))
    assert_one_line_error(invoke("validate", "--reference", run, "--candidate", run, "--subgroup",
                                 "dicom:PatientID", "--out", tmp_path / "val2"), "may not carry identifiers")


def test_data_audit_reports_a_patient_in_two_given_splits(tmp_path):
    # Patient 0's first image in test, the rest of its images in train: one patient leaks.
    csv = _write(tmp_path, split=lambda p, i: "test" if i == 0 else ("train", "train", "val", "test")[p % 4])
    args = ["--image-column", "png", "--label-column", "label", "--split-column", "split", "--group-column", "patient",
            "--positive-class", "pneumonia"]
    assert_one_line_error(invoke("train", "--data", csv, *args, "--out", tmp_path / "r", *FAST),
                          "1 patients have images in both train and test")
    result = invoke("data", "audit", "--data", csv, *args, "--json", tmp_path / "audit.json", "--html",
                    tmp_path / "audit.html")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "audit.json").read_text())
    assert record["group_leakage"]["train-test"] == {"patients": 1, "test_cases_of_those_patients": 1}
    assert record["group_leakage"]["train-val"]["patients"] == 0
    assert "SECRET" not in (tmp_path / "audit.json").read_text() + (tmp_path / "audit.html").read_text()
    assert "Patients in two splits" in (tmp_path / "audit.html").read_text()


def test_reading_in_workers_through_a_cache_trains_the_same_model(tmp_path):
    csv = _write(tmp_path)
    args = ["--data", csv, "--image-column", "dicom", "--label-column", "label", "--group-column", "patient",
            "--positive-class", "pneumonia", "--model", "smallcnn", *FAST]
    assert invoke("train", *args, "--out", tmp_path / "plain").exit_code == 0
    result = invoke("train", *args, "--workers", "2", "--cache", tmp_path / "cache", "--out", tmp_path / "workers")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "cache").glob("*.npy"))) == PATIENTS * PER_PATIENT
    plain, workers = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("plain", "workers"))
    assert workers["auroc"] == plain["auroc"] and workers["sensitivity"] == plain["sensitivity"]


def test_broken_own_data_is_one_line_errors(tmp_path):
    csv = _write(tmp_path)
    args = ["--label-column", "label", "--positive-class", "pneumonia", "--out", tmp_path / "r", *FAST]
    text = csv.read_text()
    (tmp_path / "dcm" / "5.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"damaged")
    assert_one_line_error(invoke("train", "--data", csv, "--image-column", "dicom", *args), "5.dcm cannot be read")
    (tmp_path / "missing.csv").write_text(text.replace("png/7.png", "png/gone.png"))
    assert_one_line_error(invoke("train", "--data", tmp_path / "missing.csv", "--image-column", "png", *args),
                          "lists 1 images that do not exist")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "png" / "8.png")
    assert_one_line_error(invoke("train", "--data", csv, "--image-column", "png", *args), "give --image-size")
    frames = np.zeros((2, 16, 16), np.uint8)
    write_dicom(tmp_path / "dcm" / "9.dcm", frames[0], NumberOfFrames=2)
    from pydicom import dcmread

    ds = dcmread(tmp_path / "dcm" / "9.dcm")
    ds.PixelData = frames.tobytes()
    ds.save_as(tmp_path / "dcm" / "9.dcm")
    (tmp_path / "dcm" / "5.dcm").unlink()
    (tmp_path / "multi.csv").write_text(text.replace("dcm/5.dcm", "dcm/9.dcm"))
    assert_one_line_error(invoke("train", "--data", tmp_path / "multi.csv", "--image-column", "dicom", *args),
                          "9.dcm is a multi-frame DICOM (2 frames): a 2D model")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "png" / "8.png")
    assert invoke("train", "--data", csv, "--image-column", "png", "--label-column", "label", "--positive-class",
                  "pneumonia", "--out", tmp_path / "ok", *FAST).exit_code == 0
    (tmp_path / "unseen.csv").write_text(text.replace(",normal,", ",covid,"))
    assert_one_line_error(invoke("evaluate", "--model", tmp_path / "ok", "--data", tmp_path / "unseen.csv",
                                 "--json", tmp_path / "e.json"), "covid")
