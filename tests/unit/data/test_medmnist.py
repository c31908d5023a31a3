import dataclasses
import numpy as np
import pytest

from medprune.data import load_data, parse_dataset_name
from medprune.errors import ConfigError, DataError, UnknownNameError
from tests.conftest import make_images, needs_shared_data, shared_data_dir, write_npz


def test_npz_loads_as_nchw_uint8_with_inferred_task(tiny_npz):
    data = load_data(tiny_npz)
    assert data.input_shape == (1, 16, 16)
    assert data.task == "binary" and data.class_names == ["0", "1"]
    assert data.split("train").x.dtype == np.uint8 and data.split("train").x.shape == (64, 1, 16, 16)


def test_rgb_multiclass_npz(tmp_path):
    data = load_data(write_npz(tmp_path / "rgb.npz", channels=3, n_classes=4))
    assert data.input_shape == (3, 16, 16) and data.task == "multiclass" and data.n_classes == 4


def test_names_with_sizes_parse():
    assert parse_dataset_name("pneumoniamnist@64") == ("pneumoniamnist", 64)
    assert parse_dataset_name("retinamnist") == ("retinamnist", 28)


@pytest.mark.parametrize("name, error, match", [
    ("pneumoniamnst", UnknownNameError, "did you mean 'pneumoniamnist'"),
    ("pneumoniamnist@50", ConfigError, "size 50 does not exist"),
    ("chestmnist", ConfigError, "multi-label"),
])
def test_bad_names(name, error, match):
    with pytest.raises(error, match=match):
        parse_dataset_name(name)


def test_missing_keys(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(DataError, match="lacks the keys train_images"):
        load_data(path)


def test_truncated_npz(tiny_npz):
    tiny_npz.write_bytes(tiny_npz.read_bytes()[:200])
    with pytest.raises(DataError, match="not a readable .npz"):
        load_data(tiny_npz)


def test_nan_images(tmp_path):
    x = np.full((4, 8, 8), np.nan, np.float32)
    path = write_npz(tmp_path / "nan.npz", counts=(4, 4, 4), test_images=x)
    with pytest.raises(DataError, match="NaN pixels"):
        load_data(path)


def test_empty_split(tmp_path):
    path = write_npz(tmp_path / "empty.npz", counts=(8, 0, 8))
    with pytest.raises(DataError, match="the val split is empty"):
        load_data(path)


def test_negative_labels_out_of_range(tmp_path):
    images, _ = make_images(4, 16, 1, 2, np.random.default_rng(0))
    path = write_npz(tmp_path / "neg.npz", counts=(4, 4, 4), test_images=images,
                     test_labels=np.array([[0], [1], [-1], [0]]))
    with pytest.raises(DataError, match="labels must be in 0..1, found -1"):
        load_data(path)


def test_labels_out_of_range_for_a_known_dataset(tmp_path, monkeypatch):
    """An official flag fixes the class count: label 2 in a binary dataset is refused."""
    from medprune.data import medmnist
    from medprune.data._medmnist_info import MEDMNIST_2D

    path = write_npz(tmp_path / "three.npz", n_classes=3)
    with pytest.raises(DataError, match="labels must be in 0..1, found 2"):
        medmnist.load_medmnist_npz(path, info=MEDMNIST_2D["pneumoniamnist"])


def test_label_and_image_counts_must_match(tmp_path):
    path = write_npz(tmp_path / "count.npz", val_labels=np.zeros((3, 1), np.uint8))
    with pytest.raises(DataError, match="32 images but 3 labels"):
        load_data(path)


def test_multilabel_npz_refused(tmp_path):
    path = write_npz(tmp_path / "ml.npz", train_labels=np.zeros((64, 3), np.uint8))
    with pytest.raises(DataError, match="multi-label"):
        load_data(path)


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "nope.npz")


@needs_shared_data
def test_shared_medmnist_files_match_their_readme():
    pneumonia = load_data("pneumoniamnist", data_dir=shared_data_dir())
    assert {k: len(v) for k, v in pneumonia.splits.items()} == {"train": 4708, "val": 524, "test": 624}
    assert pneumonia.class_names == ["normal", "pneumonia"] and pneumonia.input_shape == (1, 28, 28)
    retina = load_data("retinamnist", data_dir=shared_data_dir())
    assert retina.task == "multiclass" and retina.input_shape == (3, 28, 28) and retina.n_classes == 5
    assert retina.checksum == "bd4c0672f1bba3e3a89f0e4e876791e4"


def test_an_official_file_read_by_path_keeps_its_names_and_positive_class(tmp_path, monkeypatch):
    from medprune.data import _medmnist_info, load
    from medprune.data.fetch import md5sum
    from tests.conftest import write_npz

    npz = write_npz(tmp_path / "copy.npz")
    breast = _medmnist_info.MEDMNIST["breastmnist"]  # malignant is class 0 in its files
    fake = dataclasses.replace(breast, md5={28: (md5sum(npz),)})
    monkeypatch.setitem(_medmnist_info.MEDMNIST, "breastmnist", fake)
    monkeypatch.setitem(load.MEDMNIST, "breastmnist", fake)
    dataset = load.load_data(npz)
    assert dataset.name == "breastmnist" and dataset.class_names[1] == "malignant"
    named = load.load_data(npz, classes=["normal", "disease"], positive_class="disease")
    assert named.class_names == ["normal", "disease"]  # the user's own names still win


@needs_shared_data
def test_the_shared_official_files_are_recognised_by_path():
    from medprune.data.load import load_data

    dataset = load_data(shared_data_dir() / "adrenalmnist3d.npz")
    assert dataset.name == "adrenalmnist3d" and dataset.class_names == ["normal", "hyperplasia"]
