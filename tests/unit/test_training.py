import pytest
import torch

from medprune.data import load_data
from medprune.errors import ConfigError
from medprune.evaluation import compute_auroc, predict_proba
from medprune.models import create_model
from medprune.training import TrainConfig, fit

CONFIG = TrainConfig(epochs=3, batch_size=16, lr=3e-3, seed=5)


def _model():
    return create_model("smallcnn", input_shape=(1, 16, 16), n_classes=2, width=4)


def _weights(model):
    return torch.cat([t.flatten().float() for t in model.state_dict().values()])


def test_training_learns_and_is_repeatable(tiny_npz):
    data = load_data(tiny_npz)
    torch.manual_seed(0)
    a = _model()
    result = fit(a, data, CONFIG, progress=False)
    torch.manual_seed(0)
    b = _model()
    fit(b, data, CONFIG, progress=False)
    assert torch.equal(_weights(a), _weights(b))
    assert result.best_val_auroc > 0.9


def test_best_validation_epoch_weights_are_kept(tiny_npz):
    data = load_data(tiny_npz)
    torch.manual_seed(0)
    model = _model()
    result = fit(model, data, CONFIG, progress=False)
    best = max(result.history, key=lambda r: r["val_auroc"])
    assert result.best_epoch == best["epoch"]
    val = data.split("val")
    assert compute_auroc(val.y, predict_proba(model, val, data.preprocessing)[:, 1]) == pytest.approx(best["val_auroc"])


def test_resume_after_interruption_matches_an_uninterrupted_run(tiny_npz, tmp_path):
    data = load_data(tiny_npz)
    torch.manual_seed(0)
    full = _model()
    fit(full, data, CONFIG, progress=False)

    def stop_after_first(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt

    torch.manual_seed(0)
    interrupted = _model()
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, data, CONFIG, state_path=tmp_path / "state.pt", progress=False,
            on_epoch_end=stop_after_first)
    resumed = _model()
    result = fit(resumed, data, CONFIG, state_path=tmp_path / "state.pt", resume=True, progress=False)
    assert result.resumed_from_epoch == 1 and len(result.history) == 3
    assert torch.allclose(_weights(resumed), _weights(full))


def test_resume_with_other_settings_is_refused(tiny_npz, tmp_path):
    data = load_data(tiny_npz)
    fit(_model(), data, TrainConfig(epochs=1, batch_size=16), state_path=tmp_path / "s.pt", progress=False)
    with pytest.raises(ConfigError, match="other training settings"):
        fit(_model(), data, TrainConfig(epochs=2, batch_size=16), state_path=tmp_path / "s.pt", resume=True,
            progress=False)


@pytest.mark.parametrize("config, match", [
    (TrainConfig(epochs=0), "epochs must be >= 1"),
    (TrainConfig(lr=-1), "learning rate"),
    (TrainConfig(optimizer="adagrad"), "adam or sgd"),
])
def test_bad_settings(config, match):
    with pytest.raises(ConfigError, match=match):
        config.check()


def test_sgd_step_schedule_and_class_weights_run(tiny_npz):
    data = load_data(tiny_npz)
    config = TrainConfig(epochs=2, batch_size=16, optimizer="sgd", schedule="step", class_weighting=True, lr=0.01)
    assert fit(_model(), data, config, progress=False).epochs_run == 2


def test_keep_start_never_returns_a_worse_validation_model(tiny_npz):
    data = load_data(tiny_npz)
    torch.manual_seed(0)
    model = _model()
    fit(model, data, CONFIG, progress=False)
    val = data.split("val")
    before = compute_auroc(val.y, predict_proba(model, val, data.preprocessing)[:, 1])
    result = fit(model, data, TrainConfig(epochs=1, batch_size=16, lr=5.0, seed=1), progress=False, keep_start=True)
    after = compute_auroc(val.y, predict_proba(model, val, data.preprocessing)[:, 1])
    assert after >= before and (result.best_epoch == 0 or result.best_val_auroc >= before)


def test_finetune_on_dataloaders_never_returns_a_model_worse_on_validation():
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import medprune
    from medprune.errors import ConfigError
    from medprune.evaluation.metrics import compute_auroc

    torch.manual_seed(0)
    x = torch.randn(192, 8)
    y = (x[:, 0] + 0.5 * torch.randn(192) > 0).long()
    train = DataLoader(TensorDataset(x[:128], y[:128]), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(x[128:], y[128:]), batch_size=32)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

    def val_auroc(m):
        with torch.no_grad():
            return compute_auroc(y[128:].numpy(), torch.softmax(m.eval()(x[128:]), 1)[:, 1].numpy())

    start = val_auroc(model)
    teacher = torch.nn.Sequential(torch.nn.Linear(8, 2))
    result = medprune.finetune(model, train, val, epochs=3, lr=1e-2, teacher=teacher, progress=False)
    assert len(result.history) == 3 and result.best_val_auroc == pytest.approx(val_auroc(model))
    assert val_auroc(model) >= start
    with pytest.raises(ConfigError, match="yields no batches"):
        medprune.finetune(model, [], val, epochs=1, progress=False)
