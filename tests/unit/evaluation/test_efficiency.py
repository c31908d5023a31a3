import torch
from torch import nn

from medprune.evaluation.efficiency import count_macs, count_params, measure_efficiency, measure_peak_memory


def test_macs_of_a_conv_and_a_linear_are_analytic():
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(8 * 10 * 10, 5))
    assert count_macs(model, (1, 10, 10)) == 8 * 9 * 10 * 10 + 800 * 5


def test_nonzero_params_count_zeroed_weights():
    model = nn.Linear(10, 10)
    with torch.no_grad():
        model.weight[:5] = 0
    assert count_params(model) == (110, 60)


def test_peak_memory_covers_weights_and_activations():
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1))
    weights = sum(p.numel() * 4 for p in model.parameters())
    activations = 32 * (32 + 64) * 28 * 28 * 4  # relu output alive while the second conv writes
    peak = measure_peak_memory(model, (1, 28, 28), batch=32)
    assert weights + activations <= peak <= weights + activations + 2 * 32 * 32 * 28 * 28 * 4


def test_efficiency_record_is_complete():
    eff = measure_efficiency(nn.Sequential(nn.Flatten(), nn.Linear(16, 2)), (1, 4, 4), repeats=2).to_dict()
    assert eff["params"] == 34 and eff["size_gzip_bytes"] > 0
    assert set(eff["latency_ms"]) == {"batch1", "batch32"} and eff["latency_ms"]["batch1"] > 0
    assert eff["conditions"]["threads"] == torch.get_num_threads()
