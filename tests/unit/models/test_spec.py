"""The checkpoint spec is a typed, versioned record: older files migrate, newer or damaged ones are refused."""

import json

import pytest
import torch

from medprune.errors import CheckpointError
from medprune.models import CheckpointSpec, create_model, load_checkpoint, make_spec, save_checkpoint


def _version_1(**changes):
    """A spec as medprune 0.1 wrote it: label column called 'target', positive class at the top level."""
    spec = {"format": "medprune-checkpoint", "format_version": 1, "medprune_version": "0.1.0",
            "model": {"name": "smallcnn", "kwargs": {}, "input_shape": [1, 28, 28], "n_classes": 2,
                      "modality": "image"},
            "task": "binary", "class_names": ["normal", "pneumonia"], "preprocessing": {},
            "data": {"data": "tiny.npz", "target": "label"}, "data_md5": "", "threshold": 0.4,
            "positive_class": "pneumonia"}
    return {**spec, **changes}


def test_a_version_1_checkpoint_still_loads_and_is_migrated(tmp_path):
    model = create_model("smallcnn", input_shape=(1, 28, 28), n_classes=2)
    payload = {"spec": json.dumps(_version_1()), "state_dict": model.state_dict(), "sparse": {}}
    torch.save(payload, tmp_path / "model.pt")
    loaded = load_checkpoint(tmp_path)
    assert loaded.spec.format_version == 2 and loaded.threshold == 0.4
    assert loaded.spec.data == {"data": "tiny.npz", "label_column": "label", "positive_class": "pneumonia"}
    assert loaded.positive_class == "pneumonia"


def test_saved_spec_round_trips_through_json(tmp_path):
    model = create_model("smallcnn", input_shape=(1, 28, 28), n_classes=2)
    spec = make_spec("smallcnn", input_shape=(1, 28, 28), class_names=["a", "b"], modality="image", task="binary")
    spec.threshold = 0.25
    save_checkpoint(tmp_path / "model.pt", model, spec)
    loaded = load_checkpoint(tmp_path).spec
    assert loaded.updated(layers={}) == spec and loaded.layers  # widths are measured at save time
    assert CheckpointSpec.read(loaded.to_json(), "again") == loaded


@pytest.mark.parametrize(("change", "words"), [
    ({"format_version": 3}, "up to v2; upgrade medprune"),
    ({"format": "other-tool"}, "format other-tool"),
    ({"model": {"name": "smallcnn", "input_shape": [1, 0, 28], "n_classes": 2}}, "model.input_shape.1"),
    ({"model": {"name": "smallcnn", "input_shape": [1, 28, 28], "n_classes": 1}}, "model.n_classes"),
    ({"class_names": ["only one"]}, "1 class_names for 2 classes"),
    ({"surprise": 1}, "surprise"),
    ({"threshold": "high"}, "threshold"),
])
def test_a_damaged_or_newer_spec_is_one_line_naming_the_field(change, words):
    spec = {**_version_1(), "format_version": 2, "data": {}} | change
    spec.pop("positive_class")
    with pytest.raises(CheckpointError) as caught:
        CheckpointSpec.read(spec, "model.pt")
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_mapping_given_from_python_is_checked_like_a_file():
    from medprune.models import Checkpoint

    net = create_model("smallcnn", input_shape=(1, 28, 28), n_classes=2)
    with pytest.raises(CheckpointError, match="class_names"):
        Checkpoint(net, {"model": {"name": "smallcnn", "input_shape": [1, 28, 28], "n_classes": 2},
                         "class_names": ["a", "b", "c"]})
