"""Manifests: a CSV of image paths and labels, split by patient when a patient column is given."""

import numpy as np
import pytest
from PIL import Image

from medprune.data import load_data
from medprune.errors import DataError
from tests.conftest import make_images


def _manifest(root, patients=40, per_patient=3, split=None):
    images, labels = make_images(patients * per_patient, 16, 1, 2, np.random.default_rng(0))
    (root / "img").mkdir(parents=True)
    rows = ["path,label,patient,site" + (",split" if split else "")]
    for i, image in enumerate(images):
        patient = i // per_patient
        label = int(labels[patient * per_patient, 0])  # one diagnosis per patient
        Image.fromarray(image).save(root / "img" / f"{i}.png")
        extra = f",{split(patient)}" if split else ""
        rows.append(f"img/{i}.png,{label},P{patient:03d},{'A' if patient % 2 else 'B'}{extra}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


def test_splits_are_made_by_patient(tmp_path):
    import pandas as pd

    csv = _manifest(tmp_path)
    data = load_data(csv, image_column="path", label_column="label", group_column="patient", image_size=16,
                     subgroups=["site"])
    frame = pd.read_csv(csv)
    sizes = {k: len(v) for k, v in data.splits.items()}
    assert sum(sizes.values()) == 120 and sizes["test"] > sizes["val"] > 0
    # every split holds whole patients: 3 images each
    assert all(n % 3 == 0 for n in sizes.values())
    assert set(data.split("test").meta) == {"site"}  # the patient id is never kept as metadata
    from medprune.data.manifest import group_split

    y = frame["label"].to_numpy()
    groups = frame["patient"].to_numpy()
    index = group_split(y, groups, seed=0)
    seen = [set(groups[ix]) for ix in index.values()]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])  # no patient in two splits
    assert {k: len(v) for k, v in index.items()} == sizes


def test_given_splits_with_a_patient_in_two_are_refused_unless_allowed(tmp_path):
    csv = _manifest(tmp_path, split=lambda p: ("train", "val", "test")[p % 3])
    data = load_data(csv, image_column="path", label_column="label", split_column="split", group_column="patient",
                     image_size=16)
    assert len(data.split("val")) == 39  # 13 patients x 3
    text = csv.read_text().splitlines()
    text[1] = text[1].rsplit(",", 1)[0] + ",test"  # patient P000's first image moved to test
    csv.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"1 patients have images in both train and test \(data rows 1, ") as err:
        load_data(csv, image_column="path", label_column="label", split_column="split", group_column="patient")
    assert "that is leakage" in str(err.value) and "P000" not in str(err.value)  # rows, never the patient id
    load_data(csv, image_column="path", label_column="label", split_column="split", group_column="patient",
              allow_group_overlap=True, image_size=16)


def test_manifest_mistakes_are_one_line(tmp_path):
    csv = _manifest(tmp_path)
    (tmp_path / "img" / "5.png").unlink()
    with pytest.raises(DataError, match=r"lists 1 images that do not exist \(first: .*5.png\)"):
        load_data(csv, image_column="path", label_column="label")
    with pytest.raises(DataError, match="column 'file' is not in labels.csv"):
        load_data(csv, image_column="file", label_column="label")


def test_patients_are_hashed_and_a_carved_validation_split_keeps_them_whole(tmp_path):
    csv = _manifest(tmp_path)
    data = load_data(csv, image_column="path", label_column="label", group_column="patient", val_fraction=0.2)
    train, val = data.split("train").groups, data.split("val").groups
    assert not set(train) & set(val) and not set(train) & {f"P{i:03d}" for i in range(40)}  # hashes, not the ids
    assert len(val) % 3 == 0 and 0.1 < len(val) / (len(train) + len(val)) < 0.3
