import numpy as np
import pytest
import torch

from medprune.data import load_data
from medprune.errors import ConfigError
from medprune.evaluation import compute_auroc, predict_proba
from medprune.models import create_model
from medprune.training.budget import BUDGETS, StepBudget, parse_duration
from medprune.training import TrainConfig, fit, plan

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


def test_a_selection_score_sees_each_epochs_validation_predictions_and_picks_the_epoch(tiny_npz):
    data = load_data(tiny_npz)
    val = data.split("val")
    seen = []

    def flatness(probs):  # any rule other than AUROC: here, prefer the least confident predictions
        return -float(np.abs(probs[:, 1] - 0.5).mean())

    def prefer_the_least_confident(y, probs):
        seen.append(probs.copy())
        assert np.array_equal(y, val.y) and probs.shape == (len(val.y), 2)
        return flatness(probs)

    torch.manual_seed(0)
    model = _model()
    result = fit(model, data, CONFIG, progress=False, selection_score=prefer_the_least_confident)
    assert len(seen) == CONFIG.epochs  # one validation pass per epoch serves AUROC, loss and the score
    chosen = int(np.argmax([flatness(p) for p in seen]))
    assert result.best_epoch == chosen + 1
    assert np.allclose(predict_proba(model, val, data.preprocessing), seen[chosen], atol=1e-6)


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


@pytest.mark.parametrize("values, match", [
    ({"epochs": 0}, r"epochs \(--epochs\): input should be greater than or equal to 1, got 0"),
    ({"lr": -1}, r"lr \(--lr\): input should be greater than 0"),
    ({"optimizer": "adagrad"}, "optimizer must be one of adam, sgd, got 'adagrad'"),
])
def test_bad_settings(values, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**values)


def test_sgd_step_schedule_and_class_weights_run(tiny_npz):
    data = load_data(tiny_npz)
    config = TrainConfig(epochs=2, batch_size=16, optimizer="sgd", schedule="step", class_weighting="on", lr=0.01)
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


def test_an_automatic_budget_stops_early_and_says_why(tiny_npz):
    data = load_data(tiny_npz)
    config = TrainConfig(batch_size=16, lr=3e-3, patience=2)
    result = fit(_model(), data, config, progress=False)
    epochs = [r["epoch"] for r in result.history]
    assert result.plan["epochs"] == BUDGETS["training"].epochs(len(data.split("train")), 16)
    if result.stopped.startswith("early stopping"):
        assert epochs[-1] - result.best_epoch == 2 and len(epochs) < result.plan["epochs"]
    else:  # every epoch improved on the last but two: the budget ran out instead
        assert len(epochs) == result.plan["epochs"] and "ran out" in result.stopped


def test_early_stopping_follows_the_validation_curve(tiny_npz, monkeypatch):
    import medprune.training.loop as training

    data = load_data(tiny_npz)
    scores = iter([0.6, 0.8, 0.7, 0.75, 0.9, 0.5, 0.85, 0.9, 0.95])  # a better epoch after two worse ones
    monkeypatch.setattr(training, "_auroc_and_loss", lambda *a: (next(scores), 0.1))  # resets the count
    result = fit(_model(), data, TrainConfig(epochs=20, patience=3, batch_size=16), progress=False)
    assert len(result.history) == 8 and result.best_epoch == 5 and result.best_val_auroc == 0.9
    assert result.stopped == ("early stopping: validation AUROC was not better than 0.9000 (epoch 5) for 3 epochs")


def test_given_epochs_run_in_full_without_early_stopping(tiny_npz):
    config = TrainConfig(epochs=3, batch_size=16)
    result = fit(_model(), load_data(tiny_npz), config, progress=False)
    assert len(result.history) == 3 and result.plan["patience"] == 0 and "budget of 3 epochs" in result.stopped


def test_a_time_budget_begins_no_epoch_that_would_end_past_it(tiny_npz, monkeypatch):
    import medprune.training.loop as training

    clock = iter(range(0, 10_000, 10))  # every reading of the clock is 10 s later
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(clock))
    result = fit(_model(), load_data(tiny_npz), TrainConfig(epochs=50, batch_size=16, time_budget_s=45),
                 progress=False)
    assert 1 <= len(result.history) < 50 and result.stopped.startswith("time budget")


@pytest.mark.parametrize("counts, setting, weighted", [
    ((50, 50), "auto", False), ((55, 5), "auto", True), ((50, 10), "auto", False), ((55, 5), "off", False),
    ((50, 50), "on", True),
])
def test_class_weighting_auto_applies_beyond_the_stated_ratio(counts, setting, weighted, tmp_path):
    import numpy as np

    from tests.conftest import write_npz

    path = write_npz(tmp_path / "d.npz", counts=(sum(counts), 32, 32), train_labels=np.repeat([0, 1], counts))
    assert plan(TrainConfig(class_weighting=setting), load_data(path)).class_weighting is weighted


@pytest.mark.parametrize("name, augment, mirror", [
    ("retinamnist", "auto", True), ("adrenalmnist3d", "auto", True), ("chest", "auto", False),
    ("retinamnist", "light", False),
])
def test_the_plan_states_whether_strong_augmentation_flips_images(name, augment, mirror, tmp_path):
    from tests.conftest import write_npz

    chosen = plan(TrainConfig(augment=augment), load_data(write_npz(tmp_path / f"{name}.npz", counts=(64, 16, 16))))
    assert chosen.mirror is mirror


def test_the_plan_claims_no_image_flip_for_volumes(tmp_path):
    from tests.integration.test_volumes import write_volumes

    volumes = load_data(write_volumes(tmp_path / "adrenalmnist3d.npz", counts=(64, 16, 16), side=8))
    assert not plan(TrainConfig(augment="strong"), volumes).mirror  # `shift` flips volumes along every axis


def test_plan_scales_the_budget_to_the_data_size():
    budget = BUDGETS["training"]
    assert budget.epochs(546, 128) == 100 and budget.epochs(4708, 128) == 14
    assert budget.epochs(100_000, 128) == 10 and budget.epochs(20, 128) == 150
    assert BUDGETS["finetuning"].epochs(546, 128) == 30 and BUDGETS["finetuning"].epochs(4708, 128) == 5


@pytest.mark.parametrize("text, seconds", [("300", 300), ("300s", 300), ("5m", 300), ("5min", 300), ("1.5h", 5400),
                                           (None, None), (120, 120)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["five minutes", "-3m", "0", "3d"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ConfigError, match="time budget"):
        parse_duration(text)


def test_an_automatic_budget_never_stops_before_half_its_epochs(tiny_npz, monkeypatch):
    import medprune.training.loop as training

    data = load_data(tiny_npz)
    scores = iter([0.9] + [0.5] * 200)  # the best epoch is the first: only the earliest stop holds the run
    monkeypatch.setattr(training, "_auroc_and_loss", lambda *a: (next(scores), 0.1))
    monkeypatch.setitem(training.BUDGETS, "training", StepBudget(min_steps=80, min_epochs=3, max_epochs=50))
    result = fit(_model(), data, TrainConfig(batch_size=16), progress=False)
    epochs, plan = len(result.history), result.plan
    assert plan["epochs"] == 20  # 64 cases in batches of 16: 4 steps an epoch
    assert plan["earliest_stop"] == (plan["epochs"] + 1) // 2 and plan["patience"] < plan["earliest_stop"]
    assert epochs == plan["earliest_stop"] and result.stopped.startswith("early stopping")


def test_the_weight_average_follows_its_formula():
    from medprune.training.loop import _Average

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    average = _Average(model, decay=0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model[1].num_batches_tracked += 5
    average.update(model)
    for key, value in average.state.items():
        live = model.state_dict()[key]
        # The first step's decay is the warm-up's 1 / 10, not 0.9.
        expected = live if not value.dtype.is_floating_point else 0.1 * before[key] + 0.9 * live
        assert torch.allclose(value, expected), key


def test_averaged_training_keeps_the_averaged_weights_it_validated(tiny_npz):
    data = load_data(tiny_npz)
    config = TrainConfig(epochs=3, batch_size=16, average="ema")
    torch.manual_seed(0)
    model = _model()
    result = fit(model, data, config, progress=False)
    val = data.split("val")
    assert 0.9 <= result.plan["average_decay"] < 1
    assert compute_auroc(val.y, predict_proba(model, val, data.preprocessing)[:, 1]) == pytest.approx(
        result.best_val_auroc)


def test_an_averaged_model_has_batchnorm_statistics_of_its_own_activations(tiny_npz):
    data = load_data(tiny_npz)
    torch.manual_seed(0)
    model = _model()
    fit(model, data, TrainConfig(epochs=3, batch_size=16, average="ema", augment="none"), progress=False)
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    hook = norm.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    train = data.split("train")
    predict_proba(model, train, data.preprocessing)
    hook.remove()
    activations = torch.cat(seen)
    # Re-estimated on 2 training batches of 16 (of 64 cases): close to the statistics of the whole split, which
    # the averaged buffers (a blend of every step's running statistics) are not in general.
    assert torch.allclose(norm.running_mean, activations.mean(dim=(0, 2, 3)), atol=0.05 + 0.1 * activations.std())


def test_the_average_decay_warms_up_then_holds():
    from medprune.training.loop import _Average

    model = torch.nn.Linear(1, 1, bias=False)
    average = _Average(model, decay=0.95)
    with torch.no_grad():
        model.weight.fill_(0.0)
        average.state["weight"].fill_(0.0)
    decays = []
    for step in range(200):
        with torch.no_grad():
            before = average.state["weight"].item()
            model.weight.fill_(1.0 + before)  # live - average == 1, so the change is 1 - decay
        average.update(model)
        decays.append(1 - (average.state["weight"].item() - before))
    assert decays[0] == pytest.approx(0.1) and decays[10] == pytest.approx(11 / 20)
    assert decays[-1] == pytest.approx(0.95) and max(decays) == pytest.approx(0.95)
