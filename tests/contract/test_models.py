"""Every registered architecture builds, runs, and survives a checkpoint round trip."""


import pytest
import torch

from medprune.models import MODELS, create_model, load_checkpoint, make_spec, save_checkpoint


def _shape(name):
    return (3, 32, 32) if MODELS.get(name).modality == "image" else (7,)


CLASSIFIERS = [n for n in MODELS.names() if MODELS.get(n).task == "classification"]
SEGMENTERS = [n for n in MODELS.names() if MODELS.get(n).task == "segmentation"]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_builds_runs_and_round_trips(name, tmp_path):
    shape = _shape(name)
    modality = MODELS.get(name).modality
    torch.manual_seed(0)
    model = create_model(name, input_shape=shape, n_classes=3, modality=modality).eval()
    x = torch.randn(2, *shape)
    expected = model(x)
    assert expected.shape == (2, 3)
    spec = make_spec(name, input_shape=shape, class_names=["a", "b", "c"], modality=modality, task="multiclass")
    save_checkpoint(tmp_path / "model.pt", model, spec)
    loaded = load_checkpoint(tmp_path)
    assert torch.allclose(loaded.model(x), expected, atol=1e-6)
    assert type(loaded.spec).read(loaded.spec.to_json(), "again") == loaded.spec  # JSON round trip


@pytest.mark.parametrize("name", [n for n in CLASSIFIERS if MODELS.get(n).min_size > 28])
def test_large_models_refuse_small_images(name):
    with pytest.raises(Exception, match=f"model '{name}' needs images of at least 32 px, got 28 px"):
        create_model(name, input_shape=(1, 28, 28), n_classes=2)


@pytest.mark.parametrize("shape", [(1, 32, 48), (1, 16, 32, 16)], ids=["2d", "3d"])
@pytest.mark.parametrize("name", SEGMENTERS)
def test_segmentation_networks_keep_one_channel_per_structure_at_the_input_size(name, shape, tmp_path):
    torch.manual_seed(0)
    model = create_model(name, input_shape=shape, n_classes=3, task="segmentation").eval()
    x = torch.randn(2, *shape)
    expected = model(x)
    assert expected.shape == (2, 3, *shape[1:])
    spec = make_spec(name, input_shape=shape, class_names=["background", "a", "b"], modality="image",
                     task="segmentation")
    save_checkpoint(tmp_path / "model.pt", model, spec)
    assert torch.allclose(load_checkpoint(tmp_path).model(x), expected, atol=1e-5)


@pytest.mark.parametrize(("name", "task", "words"), [("unet", "classification", "use smallcnn, resnet18"),
                                                      ("resnet18", "segmentation", "use unet, basicunet")])
def test_a_network_of_the_other_task_is_refused_in_one_line(name, task, words):
    with pytest.raises(Exception, match=words):
        create_model(name, input_shape=(1, 32, 32), n_classes=2, task=task)
