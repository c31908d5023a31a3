"""Regularisation penalties and channel dropout: the values they add and the channels they touch."""

import pytest
import torch
from torch import nn

from medprune.compress.dropout import channel_dropout
from medprune.compress.regularize import make_penalty, near_zero_share
from medprune.errors import ConfigError


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))


def test_penalties_equal_their_definitions():
    net = _net()
    conv = net[0].weight
    assert make_penalty("l1", 0.1, net, 2)(net).item() == pytest.approx(0.1 * conv.abs().sum().item(), rel=1e-6)
    assert make_penalty("l2", 0.1, net, 2)(net).item() == pytest.approx(0.1 * conv.pow(2).sum().item(), rel=1e-6)
    group = sum(conv[c].norm().item() for c in range(4))
    assert make_penalty("group-lasso", 0.1, net, 2)(net).item() == pytest.approx(0.1 * group, rel=1e-6)
    assert make_penalty("bn-gamma", 0.1, net, 2)(net).item() == pytest.approx(0.1 * 4, rel=1e-6)  # gammas start at 1


def test_near_zero_share_counts_small_channels_and_bn_is_required():
    net = _net()
    with torch.no_grad():
        net[1].weight[:2] = 1e-5
    assert near_zero_share("bn-gamma", net, 2) == 0.5
    with pytest.raises(ConfigError, match="BatchNorm"):
        make_penalty("bn-gamma", 0.1, nn.Sequential(nn.Linear(3, 2)), 2)


def test_channel_dropout_drops_whole_channels_only_while_training():
    net = _net()
    x = torch.randn(64, 1, 8, 8)
    seen = []  # what the layer after BatchNorm receives
    net[2].register_forward_pre_hook(lambda m, i: seen.append(i[0].detach()))
    with channel_dropout(net, 0.5, None):
        net.train()(x)
        dropped = (seen[-1].flatten(2).abs().sum(2) == 0)
        assert 0.3 < dropped.float().mean() < 0.7  # about half the (case, channel) pairs
        net.eval()(x)
        assert (seen[-1].flatten(2).abs().sum(2) > 0).all()
    net.train()(x)
    assert (seen[-1].flatten(2).abs().sum(2) > 0).all()  # hooks removed afterwards


def test_targeted_dropout_only_drops_the_smallest_gamma_channels():
    net = _net()
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([0.1, 2.0, 0.2, 3.0]))
    seen = []
    net[2].register_forward_pre_hook(lambda m, i: seen.append(i[0].detach()))
    with channel_dropout(net, 1.0, 0.5):
        net.train()(torch.randn(16, 1, 8, 8))
    zero = seen[-1].flatten(2).abs().sum(2) == 0
    assert zero[:, [0, 2]].all() and not zero[:, [1, 3]].any()
