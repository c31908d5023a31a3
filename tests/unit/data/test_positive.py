"""The positive (disease) class, degenerate labels and splits, subset files and a carved validation split."""

import json

import numpy as np
import pytest

from medprune.data import load_data
from medprune.data.positive import orient_positive
from medprune.errors import ConfigError, DataError
from tests.conftest import make_images, write_npz


def test_disease_class_listed_first_is_moved_to_index_one(tmp_path):
    from medprune.data import medmnist
    from medprune.data._medmnist_info import MEDMNIST_2D

    path = write_npz(tmp_path / "breast.npz")
    raw = medmnist.load_medmnist_npz(path, info=MEDMNIST_2D["breastmnist"])
    oriented = orient_positive(raw, None, flag="breastmnist")  # BreastMNIST: 0 = malignant
    assert oriented.class_names == ["normal, benign", "malignant"]
    assert oriented.source["positive_class"] == "malignant"
    for split in ("train", "val", "test"):
        assert np.array_equal(oriented.split(split).y, 1 - raw.split(split).y)
    assert orient_positive(oriented, "malignant").class_names == oriented.class_names  # idempotent


def test_positive_class_named_by_the_user_and_refused_when_unknown(tmp_path):
    path = write_npz(tmp_path / "tiny.npz")
    flipped = load_data(path, positive_class="0")
    assert flipped.class_names == ["1", "0"] and flipped.source["positive_class"] == "0"
    with pytest.raises(ConfigError, match="positive class 'O' is not a class of tiny: choose one of 0, 1"):
        load_data(path, positive_class="O")


def test_table_without_a_yes_value_needs_the_positive_class(tiny_table, tmp_path):
    text = tiny_table.read_text().replace(",0\n", ",healthy\n").replace(",1\n", ",sick\n")
    path = tmp_path / "words.csv"
    path.write_text(text)
    with pytest.raises(DataError, match="name it with --positive-class NAME"):
        load_data(path, label_column="Outcome")
    assert load_data(path, label_column="Outcome", positive_class="sick").class_names == ["healthy", "sick"]


def test_a_stray_label_does_not_make_an_eight_class_task(tmp_path):
    images, labels = make_images(64, 16, 1, 2, np.random.default_rng(0))
    labels[5] = 7
    path = write_npz(tmp_path / "stray.npz", train_images=images, train_labels=labels)
    with pytest.raises(DataError, match=r"class 2 has no training cases \(labels found: 0, 1, 7\)"):
        load_data(path)


def test_single_class_training_split_is_refused(tmp_path):
    from medprune import api
    from medprune.training import TrainConfig

    images, _ = make_images(32, 16, 1, 2, np.random.default_rng(0))
    path = write_npz(tmp_path / "one.npz", train_images=images, train_labels=np.ones((32, 1), np.uint8),
                     val_labels=np.array([[0], [1]] * 16, np.uint8))
    with pytest.raises(DataError):  # class 0 has no training case: refused before training
        api.train(load_data(path), "smallcnn", TrainConfig(epochs=1), tmp_path / "run")
    assert not (tmp_path / "run" / "model.pt").exists()


def test_tiny_validation_split_is_refused_and_val_fraction_fixes_it(tmp_path):
    from medprune import api
    from medprune.training import TrainConfig

    path = write_npz(tmp_path / "tiny_val.npz", counts=(96, 4, 64))
    with pytest.raises(DataError, match="too few to choose a decision threshold; pass --val-fraction"):
        api.train(load_data(path), "smallcnn", TrainConfig(epochs=1), tmp_path / "run")
    carved = load_data(path, val_fraction=0.25)
    assert len(carved.split("val")) == 25 and len(carved.split("train")) == 75
    assert len(carved.split("test")) == 64 and carved.source["val_fraction"] == 0.25
    assert np.bincount(carved.split("val").y).min() >= 12  # stratified


@pytest.mark.parametrize("indices, match", [([], "lists no training cases"), ([1, 2, 2], "case 2 more than once"),
                                            ([1, 2.5], "index 2.5, not a whole number"),
                                            (["3"], "index '3', not a whole number")])
def test_degenerate_subset_files_are_refused(tmp_path, indices, match):
    from medprune.data.subset import FORMAT

    path = tmp_path / "subset.json"
    path.write_text(json.dumps({"format": FORMAT, "source": {"data": "x.npz"}, "n_train": 10, "indices": indices}))
    with pytest.raises(DataError, match=match):
        load_data(path)


def test_classes_named_by_the_user_may_lack_training_cases(tmp_path):
    from medprune import api

    images, labels = make_images(64, 16, 1, 2, np.random.default_rng(0))
    test_labels = labels.copy()
    test_labels[:4] = 2  # a third class seen only in test
    path = write_npz(tmp_path / "three.npz", counts=(64, 64, 64), test_images=images, test_labels=test_labels)
    with pytest.raises(DataError, match="class 2 has no training cases"):
        load_data(path)
    named = load_data(path, classes=["normal", "pneumonia", "other"])
    assert named.class_names == ["normal", "pneumonia", "other"] and named.source["classes"] == named.class_names
    with pytest.warns(UserWarning, match="class 'other' has no training cases"):
        api.check_trainable(named)
    with pytest.raises(DataError, match="at least two distinct"):
        load_data(path, classes=["a", "a", "b"])
