"""Image folders: class_name/file, with or without train/val/test, read with Pillow."""

import numpy as np
import pytest
from PIL import Image

from medprune.data import load_data
from medprune.errors import ConfigError, DataError
from tests.conftest import make_images


def _write_folder(root, n=60, split_folders=False, rgb=False, seed=0):
    images, labels = make_images(n, 20, 3 if rgb else 1, 2, np.random.default_rng(seed))
    names = ["normal", "pneumonia"]
    for i, (image, label) in enumerate(zip(images, labels[:, 0])):
        split = ("train", "val", "test")[i % 3] if split_folders else ""
        folder = root / split / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"case{i:03d}.{'jpg' if i % 5 == 0 and not rgb else 'png'}")
    return root


def test_a_flat_folder_is_split_stratified_and_read_at_the_given_size(tmp_path):
    with pytest.raises(DataError, match="name it with --positive-class"):  # folder names do not say which is disease
        load_data(_write_folder(tmp_path / "xray"), image_size=16)
    data = load_data(tmp_path / "xray", image_size=16, positive_class="pneumonia")
    assert data.class_names == ["normal", "pneumonia"] and data.input_shape == (1, 16, 16)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 42, "val": 6, "test": 12}
    assert data.split("train").x.dtype == np.uint8 and data.source["positive_class"] == "pneumonia"
    again = load_data(tmp_path / "xray", image_size=16, positive_class="pneumonia")
    assert again.checksum == data.checksum and np.array_equal(again.split("test").x, data.split("test").x)


def test_split_folders_are_kept_and_rgb_is_read_as_three_channels(tmp_path):
    data = load_data(_write_folder(tmp_path / "fundus", split_folders=True, rgb=True), image_size=20, channels=3,
                     positive_class="pneumonia")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 20, "val": 20, "test": 20}
    assert data.input_shape == (3, 20, 20)


def test_folder_mistakes_are_one_clear_error(tmp_path):
    root = _write_folder(tmp_path / "x")
    (root / "pneumonia" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.png cannot be read as an image"):
        load_data(root, positive_class="pneumonia")
    with pytest.warns(UserWarning, match="skipped 1 unreadable file"):
        skipped = load_data(root, positive_class="pneumonia", skip_unreadable=True)
    assert sum(len(s) for s in skipped.splits.values()) == 60
    (root / "pneumonia" / "broken.png").unlink()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "normal" / "small.png")
    with pytest.raises(DataError, match=r"more than one size .*give --image-size"):
        load_data(root, positive_class="pneumonia")
    assert load_data(root, positive_class="pneumonia", image_size=12).input_shape == (1, 12, 12)
    (tmp_path / "one" / "only").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "one" / "only" / "a.png")
    with pytest.raises(DataError, match="1 class folder"):
        load_data(tmp_path / "one")
    with pytest.raises(ConfigError, match="--channels must be 1"):
        load_data(root, channels=2)
