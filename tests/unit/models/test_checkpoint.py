
import pytest
import torch

from medprune.errors import CheckpointError, ConfigError, UnknownNameError
from medprune.models import create_model, load_checkpoint, make_spec, save_checkpoint


def _spec(name="resnet18", shape=(1, 28, 28)):
    return make_spec(name, input_shape=shape, class_names=["no", "yes"], modality="image", task="binary")


def test_channel_pruned_resnet_reloads_at_its_pruned_widths(tmp_path):
    """Torch-Pruning removes channels in place; the spec's widths rebuild that shape without pickle."""
    import torch_pruning as tp

    torch.manual_seed(0)
    model = create_model("resnet18", input_shape=(1, 28, 28), n_classes=2).eval()
    example = torch.randn(1, 1, 28, 28)
    pruner = tp.pruner.MetaPruner(model, example, importance=tp.importance.MagnitudeImportance(p=1),
                                  pruning_ratio=0.5, ignored_layers=[model.fc])
    pruner.step()
    x = torch.randn(4, 1, 28, 28)
    expected = model(x)
    save_checkpoint(tmp_path / "model.pt", model, _spec())
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded.model.layer1[0].conv1.out_channels == model.layer1[0].conv1.out_channels < 64
    assert torch.allclose(loaded.model(x), expected, atol=1e-5)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    model = create_model("smallcnn", input_shape=(1, 28, 28), n_classes=2)
    spec = _spec("smallcnn")
    save_checkpoint(tmp_path / "model.pt", model, spec)
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    payload["spec"] = payload["spec"].replace('"name": "smallcnn"', '"name": "resnet18"')
    torch.save(payload, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="saved from a different model"):
        load_checkpoint(tmp_path)


def test_truncated_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "model.pt", create_model("smallcnn", input_shape=(1, 28, 28), n_classes=2),
                    _spec("smallcnn"))
    data = (tmp_path / "model.pt").read_bytes()
    (tmp_path / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path)


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_code_is_never_executed(tmp_path, capsys):
    torch.save({"spec": "{}", "state_dict": {}, "x": _Evil()}, tmp_path / "model.pt", pickle_protocol=2)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "model.pt")
    assert "code ran" not in capsys.readouterr().out


def test_plain_state_dict_is_not_a_checkpoint(tmp_path):
    torch.save(create_model("smallcnn", input_shape=(1, 28, 28), n_classes=2).state_dict(), tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="not a medprune checkpoint"):
        load_checkpoint(tmp_path / "model.pt")


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing")


def test_factory_errors():
    with pytest.raises(UnknownNameError, match="did you mean 'resnet18'"):
        create_model("resnet19", input_shape=(1, 28, 28), n_classes=2)
    with pytest.raises(ConfigError, match="use mlp for tables"):
        create_model("resnet18", input_shape=(10,), n_classes=2, modality="table")
