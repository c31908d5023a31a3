"""Devices, mixed precision and the pieces of data-parallel training that one process can check."""

import io
import zipfile

import pytest
import torch
from torch import nn

from medprune.data import load_data
from medprune.errors import ConfigError
from medprune.hardware.device import device_of, resolve_device
from medprune.hardware.distributed import World, plain_batchnorm, synced_batchnorm
from medprune.hardware.precision import autocast, grad_scaler
from medprune.models import create_model, load_checkpoint, make_spec, save_checkpoint
from medprune.training import TrainConfig, fit


def test_auto_takes_the_cpu_on_a_machine_without_accelerators():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("CPU") == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:3"])
def test_an_absent_device_is_a_one_line_error_naming_the_fix(name):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=rf"--device {name}: this machine has no CUDA device.*use --device cpu"):
        resolve_device(name)


@pytest.mark.parametrize("values, match", [({"device": "gpu"}, "device must be auto, cpu, cuda, cuda:N or mps"),
                                           ({"precision": "fp16"}, "precision must be one of 32, bf16-mixed")])
def test_device_and_precision_spellings_are_checked_where_declared(values, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**values)


def test_bf16_autocast_runs_on_the_cpu_and_needs_no_gradient_scaler():
    layer = nn.Linear(4, 2)
    with autocast(torch.device("cpu"), "bf16-mixed"):
        out = layer(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    assert layer.weight.dtype == torch.float32  # the weights stay fp32
    assert not grad_scaler(torch.device("cpu"), "bf16-mixed").is_enabled()
    with autocast(torch.device("cpu"), "32"):
        assert layer(torch.randn(3, 4)).dtype == torch.float32


def test_bf16_training_records_its_precision_and_returns_an_fp32_model_on_the_cpu(tiny_npz):
    data = load_data(tiny_npz)
    model = create_model("smallcnn", input_shape=(1, 16, 16), n_classes=2, width=4)
    result = fit(model, data, TrainConfig(epochs=2, batch_size=16, precision="bf16-mixed", device="cpu"),
                 progress=False)
    assert result.device == "cpu" and result.processes == 1
    assert {t.dtype for t in model.state_dict().values() if t.is_floating_point()} == {torch.float32}
    assert device_of(model) == torch.device("cpu")
    assert len(result.history) == 2 and all(torch.isfinite(torch.tensor(h["train_loss"])) for h in result.history)


def test_synchronised_batchnorm_is_undone_into_the_same_plain_layers_and_tensors():
    model = nn.Sequential(nn.Conv3d(1, 4, 3), nn.BatchNorm3d(4), nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)))
    weight, running_mean = model[1].weight, model[2][1].running_mean
    synced_batchnorm(model)
    assert isinstance(model[1], nn.SyncBatchNorm) and isinstance(model[2][1], nn.SyncBatchNorm)
    plain_batchnorm(model)
    assert type(model[1]) is nn.BatchNorm3d and type(model[2][1]) is nn.BatchNorm2d
    assert model[1].weight is weight and model[2][1].running_mean is running_mean


def test_each_process_takes_its_stride_of_the_global_batch():
    batch = torch.arange(7)
    strides = [World(rank, 2).shard(batch) for rank in range(2)]
    assert strides[0].tolist() == [0, 2, 4, 6] and strides[1].tolist() == [1, 3, 5]
    assert World().shard(batch) is batch and World().main and not World(1, 2).main


def _as_if_saved_on_a_gpu(path):
    """Rewrite a torch.save zip so every tensor says it was stored on cuda:0, as a file from a GPU machine does."""
    with zipfile.ZipFile(path) as zin:
        entries = {info: zin.read(info) for info in zin.infolist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info, data in entries.items():
            if info.filename.endswith("data.pkl"):
                assert b"X\x03\x00\x00\x00cpu" in data
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            zout.writestr(info, data)
    path.write_bytes(out.getvalue())


def test_a_checkpoint_written_on_a_gpu_loads_on_the_cpu(tmp_path):
    model = create_model("smallcnn", input_shape=(1, 16, 16), n_classes=2, width=4)
    spec = make_spec("smallcnn", input_shape=(1, 16, 16), class_names=["a", "b"], modality="image", task="binary",
                     kwargs={"width": 4})
    save_checkpoint(tmp_path / "model.pt", model, spec)
    _as_if_saved_on_a_gpu(tmp_path / "model.pt")
    if not torch.cuda.is_available():  # the rewritten file really names a GPU: torch refuses it without a map
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(tmp_path / "model.pt", weights_only=True)
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert device_of(loaded.model) == torch.device("cpu")
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)


def test_models_run_on_the_device_inside_the_block_and_are_on_the_cpu_after_it_even_on_error():
    from medprune.hardware.device import on_cpu, running_on

    models = [nn.Linear(2, 2), nn.Sequential()]  # the second holds no weights, as an exported model's wrapper
    with pytest.raises(KeyError), running_on(models, torch.device("cpu")):
        raise KeyError("a failure inside the block")
    assert all(device_of(m) == torch.device("cpu") for m in models)
    assert on_cpu(models[0]) is models[0]  # already on the CPU: no copy


@pytest.mark.parametrize("verb", [["evaluate", "--model", "RUN"], ["predict", "--model", "RUN", "--data", "RUN",
                                                                     "--out", "OUT.csv"],
                                  ["validate", "--reference", "RUN", "--candidate", "RUN", "--out", "OUT"]])
def test_a_verb_asked_for_an_absent_gpu_stops_at_once_with_exit_2(verb, tmp_path):
    from typer.testing import CliRunner

    from medprune.cli import app

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    args = [str(tmp_path / "x") if a == "RUN" else str(tmp_path / a) if a.startswith("OUT") else a for a in verb]
    result = CliRunner().invoke(app, [*args, "--device", "cuda"])
    assert result.exit_code == 2
    assert "this machine has no CUDA device" in result.output


def test_prefetched_batches_come_in_order_and_an_error_in_the_producer_reaches_the_consumer():
    from medprune.hardware.prefetch import prefetched

    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("unreadable batch")

    items = prefetched(failing())
    assert next(items) == 1
    with pytest.raises(ValueError, match="unreadable batch"):
        next(items)
    early = prefetched(iter(range(1000)), depth=2)
    assert next(early) == 0
    early.close()  # a consumer that stops early leaves no thread blocked on a full queue


def test_latency_on_another_device_is_refused_for_an_exported_model_and_timed_where_asked_otherwise():
    from medprune.errors import ConfigError
    from medprune.evaluation.efficiency import latency_device_for, measure_efficiency

    class Exported(nn.Module):  # as OnnxModel / OpenVinoModel: counts read from the file, no weights here
        def counts(self):
            return 0, 0, 0

    assert latency_device_for(Exported(), "cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="this machine has no CUDA device"):
            latency_device_for(nn.Linear(2, 2), "cuda")
    else:
        with pytest.raises(ConfigError, match="an exported model"):
            latency_device_for(Exported(), "cuda")
    figures = measure_efficiency(nn.Linear(4, 2), (4,), repeats=1, latency_device="cpu")
    assert figures.conditions["latency_device"] == "cpu" and figures.latency_ms["batch1"] > 0
