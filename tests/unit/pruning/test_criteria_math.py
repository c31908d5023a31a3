"""Criteria against hand-computed references on tiny networks."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from medprune.pruning import CRITERIA, CalibrationData


def _tiny():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5, bias=False), nn.ReLU(), nn.Linear(5, 3, bias=False))
    data = CalibrationData([(torch.randn(6, 4), torch.randint(0, 3, (6,))) for _ in range(2)], (4,))
    return model, data


def _mean_grad(model, data):
    grads = [torch.zeros_like(p) for p in model.parameters()]
    for x, y in data:
        for acc, g in zip(grads, torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))):
            acc += g / len(data.batches)
    return grads


def test_taylor_is_weight_times_mean_gradient():
    model, data = _tiny()
    scores = CRITERIA.get("taylor")().score(model, data)
    for layer, g in zip((model[0], model[2]), _mean_grad(model, data)):
        assert torch.allclose(scores[layer], layer.weight.detach() * g, atol=1e-6)


def test_hessian_is_weight_squared_times_mean_squared_gradient():
    model, data = _tiny()
    expected = [torch.zeros_like(p) for p in model.parameters()]
    for x, y in data:
        for acc, g in zip(expected, torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))):
            acc += g ** 2 / len(data.batches)
    scores = CRITERIA.get("hessian")().score(model, data)
    for layer, fisher in zip((model[0], model[2]), expected):
        assert torch.allclose(scores[layer], layer.weight.detach() ** 2 * fisher, atol=1e-7)


def test_grasp_is_weight_times_hessian_gradient_product():
    model, data = _tiny()
    params = list(model.parameters())

    def loss_of(*ws):
        total = 0
        for x, y in data:
            total = total + F.cross_entropy(F.linear(F.relu(F.linear(x, ws[0])), ws[1]), y)
        return total

    g = torch.autograd.grad(loss_of(*params), params)
    _, hg = torch.autograd.functional.hvp(loss_of, tuple(p.detach() for p in params), g)
    scores = CRITERIA.get("grasp")().score(model, data)
    for layer, h, p in zip((model[0], model[2]), hg, params):
        assert torch.allclose(scores[layer], p.detach() * h, atol=1e-5)


def test_synflow_conserves_flow_across_layers():
    """Tanaka et al. 2020: in a bias-free network the summed synaptic flow is the same in every layer."""
    model, data = _tiny()
    scores = CRITERIA.get("synflow")().score(model, data)
    assert float(scores[model[0]].sum()) == pytest.approx(float(scores[model[2]].sum()), rel=1e-5)


def test_snip_scores_sum_to_one():
    model, data = _tiny()
    scores = CRITERIA.get("snip")().score(model, data)
    assert sum(float(s.sum()) for s in scores.values()) == pytest.approx(1.0)


def test_random_is_seeded():
    model, data = _tiny()
    a = CRITERIA.get("random")(seed=3).score(model, data)[model[0]]
    b = CRITERIA.get("random")(seed=3).score(model, data)[model[0]]
    assert torch.equal(a, b)
