"""Segmentation data: Decathlon folders and mask manifests, their splits, normalisation and one-line errors."""

import json

import numpy as np
import pytest

from medprune.data import load_data
from medprune.errors import ConfigError, DataError
from tests.conftest import write_decathlon, write_mask_manifest


def test_a_decathlon_folder_is_split_by_case_padded_and_normalised(tmp_path):
    data = load_data(write_decathlon(tmp_path / "d", n=30))
    assert data.task == "segmentation" and data.class_names == ["background", "front", "back"]
    assert {k: len(v) for k, v in data.splits.items()} == {"test": 6, "val": 3, "train": 21}
    assert data.input_shape == (1, 16, 32, 16)  # the largest case rounded up to 16
    image, mask = data.split("train").case(0)
    assert image.shape[1:] == mask.shape == tuple(data.split("train").shapes[0])
    assert abs(float(image.mean())) < 1e-4 and float(image.std()) == pytest.approx(1, abs=1e-3)  # z-score per case
    same = load_data(write_decathlon(tmp_path / "again", n=30))
    assert (same.split("test").y == data.split("test").y).all()  # the seeded split is reproducible


def test_a_manifest_with_masks_holds_one_site_out_as_external_test(tmp_path):
    data = load_data(write_mask_manifest(tmp_path), mask_column="mask", image_column="image", external_test="site=b")
    assert len(data.split("test")) == 8 and set(data.split("test").meta["site"]) == {"b"}
    assert set(data.split("train").meta["site"]) | set(data.split("val").meta["site"]) == {"a"}
    assert data.class_names == ["background", "foreground"] and set(np.unique(data.split("train").y)) == {0, 1}


def _patients(data, split):
    return set(data.split(split).groups)


def test_a_manifest_with_a_patient_column_is_split_by_patient(tmp_path):
    data = load_data(write_mask_manifest(tmp_path, n=60), mask_column="mask", image_column="image", group_column="patient")
    assert not (_patients(data, "train") & _patients(data, "test") or _patients(data, "train") & _patients(data, "val")
                or _patients(data, "val") & _patients(data, "test"))
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 42, "val": 6, "test": 12}  # 2 images a patient
    assert not any(g.startswith("p") for g in data.split("test").groups)  # salted hashes, never the ids
    assert data.source["group_column"] == "patient"


def test_an_external_test_splits_the_other_sites_by_patient(tmp_path):
    data = load_data(write_mask_manifest(tmp_path, n=40), mask_column="mask", image_column="image", external_test="site=b",
                     group_column="patient")
    assert set(data.split("test").meta["site"]) == {"b"} and len(data.split("test")) == 8
    assert not _patients(data, "train") & _patients(data, "val")


def test_a_patient_at_the_external_site_and_elsewhere_is_refused(tmp_path):
    manifest = write_mask_manifest(tmp_path, n=40, patient=lambda i: f"p{i % 10}")  # patients p0-p7 at both sites
    with pytest.raises(DataError, match="8 patients have images both at site=b and elsewhere"):
        load_data(manifest, mask_column="mask", image_column="image", external_test="site=b", group_column="patient")


def test_a_split_column_gives_the_splits_and_patients_may_not_cross_them(tmp_path):
    manifest = write_mask_manifest(tmp_path / "given", n=30,
                                   split=lambda i: ("test", "val", "train", "train", "train")[i % 5])
    data = load_data(manifest, mask_column="mask", image_column="image", split_column="split")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 18, "val": 6, "test": 6}
    with pytest.raises(DataError, match="patients have images in both"):
        load_data(manifest, mask_column="mask", image_column="image", split_column="split", group_column="patient")
    with pytest.raises(ConfigError, match="give one of them"):
        load_data(manifest, mask_column="mask", image_column="image", split_column="split", external_test="site=b")


@pytest.mark.parametrize(("damage", "words"), [
    (lambda root: (root / "dataset.json").unlink(), "has no dataset.json"),
    (lambda root: (root / "dataset.json").write_text("{not json"), "is not a Decathlon dataset.json"),
    (lambda root: (root / "labelsTr" / "case_003.nii.gz").unlink(), "is listed in dataset.json but missing"),
    (lambda root: (root / "labelsTr" / "case_002.nii.gz").write_bytes(b"nonsense"), "not a readable NIfTI"),
])
def test_a_damaged_decathlon_folder_is_one_line(tmp_path, damage, words):
    root = write_decathlon(tmp_path / "d", n=12)
    damage(root)
    with pytest.raises(DataError, match=words) as caught:
        load_data(root)
    assert "\n" not in str(caught.value)


def test_labels_beyond_those_named_are_refused(tmp_path):
    root = write_decathlon(tmp_path / "d", n=12)
    info = json.loads((root / "dataset.json").read_text())
    info["labels"] = {"0": "background", "1": "front"}
    (root / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="holds label 2 but dataset.json names 2 labels"):
        load_data(root)


def test_external_test_needs_a_maskwrite_mask_manifest(tmp_path, tiny_npz):
    with pytest.raises(ConfigError, match="give --mask-column too"):
        load_data(tiny_npz, external_test="site=b")
    with pytest.raises(DataError, match="no rows have site=c"):
        load_data(write_mask_manifest(tmp_path), mask_column="mask", external_test="site=c")
