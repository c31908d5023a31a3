"""`medprune.prune` on networks outside the zoo: every criterion keeps every class, ignored layers keep their
width, and the caller's model is never modified."""

import pytest
import torch
from torch import nn

import medprune
from medprune.errors import ConfigError
from medprune.pruning import CRITERIA
from medprune.pruning.groups import classifier_layers

X = torch.randn(16, 1, 16, 16)
Y = torch.randint(0, 2, (16,))


def fully_convolutional(n_classes=3):
    """A classifier whose head is a 1x1 convolution to the classes, then pooling: no Linear layer at all."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.Conv2d(64, n_classes, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()


@pytest.mark.filterwarnings("ignore:target macs=0.25 reached")  # 32 / 64 channels in steps of 8 land coarsely
@pytest.mark.parametrize("criterion", CRITERIA.names())
def test_a_fully_convolutional_classifier_keeps_all_its_classes(criterion):
    net = fully_convolutional()
    result = medprune.prune(net, X[:1], criterion=criterion, target="macs=0.25", calibration=[(X, Y % 3)])
    assert result.model(X).shape == (16, 3)
    assert result.model[6].out_channels == 3 and result.achieved["macs_ratio"] <= 0.25
    assert result.achieved["layers"]["3"]["kept"] < 64  # the body was pruned


def test_the_head_is_found_by_execution_order():
    net = fully_convolutional()
    assert classifier_layers(net, 3, X[:1]) == [net[6]]


@pytest.mark.filterwarnings("ignore:target macs=0.5 reached")  # 64 channels in steps of 8: 0.385 is the closest
def test_ignored_layers_keep_their_width_and_the_input_model_is_untouched():
    net = fully_convolutional()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = medprune.prune(net, X[:1], criterion="magnitude", target="macs=0.5", ignored_layers=[net[0]])
    assert result.model[0].out_channels == 32 and result.model[3].out_channels < 64
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_a_monai_network_built_by_hand_prunes_structured_and_unstructured():
    from monai.networks.nets import resnet18

    torch.manual_seed(0)
    net = resnet18(spatial_dims=2, n_input_channels=1, num_classes=2).eval()
    result = medprune.prune(net, X[:1], criterion="taylor", target="macs=0.5", calibration=[(X, Y)])
    assert result.model(X).shape == (16, 2) and 0.4 <= result.achieved["macs_ratio"] <= 0.5
    sparse = medprune.prune(net, X[:1], criterion="magnitude", target="sparsity=0.5", structured=False)
    assert sparse.achieved["sparsity"] == pytest.approx(0.5, abs=0.02) and sparse.model(X).shape == (16, 2)


def test_mistakes_are_one_clear_error():
    net = fully_convolutional()
    with pytest.raises(ConfigError, match="pass calibration="):
        medprune.prune(net, X[:1], criterion="taylor")
    with pytest.raises(ConfigError, match="structured pruning removes channels"):
        medprune.prune(net, X[:1], criterion="magnitude", target="sparsity=0.5", structured=True)
    with pytest.raises(ConfigError, match=r"round to \(--round-to\): input should be greater than or equal to 1"):
        medprune.prune(net, X[:1], criterion="magnitude", round_to=0)
    with pytest.raises(ConfigError, match="until-tolerance needs validation data"):
        medprune.prune(net, X[:1], criterion="magnitude", schedule="until-tolerance")
    with pytest.raises(ConfigError, match="scope must be global or layer"):
        medprune.prune(net, X[:1], criterion="magnitude", scope="network")


def test_a_target_missed_by_more_than_five_points_is_reported():
    net = fully_convolutional()
    with pytest.warns(UserWarning, match="target macs=0.25 reached"):
        medprune.prune(net, X[:1], criterion="magnitude", target="macs=0.25")


def test_export_onnx_of_a_pruned_model_outside_the_zoo(tmp_path):
    from medprune.models.onnx_model import OnnxModel

    net = fully_convolutional()
    pruned = medprune.prune(net, X[:1], criterion="magnitude", target="macs=0.5", round_to=1).model
    fp32 = medprune.export_onnx(pruned, X, tmp_path / "m.onnx")
    assert fp32.max_abs_diff < 1e-4 and OnnxModel(tmp_path / "m.onnx")(X).shape == (16, 3)
    int8 = medprune.export_onnx(pruned, X, tmp_path / "m8.onnx", int8=True, calibration=[(X, Y)])
    assert int8.format == "onnx-int8" and 0 <= int8.agreement <= 1 and int8.n_checked == 16
    with pytest.raises(ConfigError, match="needs calibration"):
        medprune.export_onnx(pruned, X, tmp_path / "m9.onnx", int8=True)


@pytest.mark.filterwarnings("ignore:target macs=0.5 reached")
def test_a_narrow_network_lands_on_the_closest_reachable_width():
    # Widths 16 / 32 / 16 in steps of 8: the reachable MACs ratios nearest below 0.5 are 0.379 ([8, 16, 16])
    # and 0.264; every width combination above it costs more than half (e.g. [16, 16, 16]: 0.509).
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                        nn.Conv2d(32, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                        nn.Conv2d(16, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    result = medprune.prune(net, X[:1], criterion="magnitude", target="macs=0.5")
    assert result.achieved["macs_ratio"] == pytest.approx(0.379, abs=0.001)


def test_an_iterative_schedule_prunes_in_growing_steps_with_the_callers_step_in_between():
    net = fully_convolutional()
    seen = []
    medprune.prune(net, X[:1], criterion="taylor", target="macs=0.25", schedule="iterative:3", round_to=1,
                   calibration=[(X, Y)], ignored_layers=[net[0]],
                   between_steps=lambda m: seen.append((m[0].out_channels, m[3].out_channels)))
    assert len(seen) == 2  # after steps 1 and 2, not after the last
    assert all(first == 32 for first, _ in seen)  # the ignored layer holds in every step's copy
    assert 64 > seen[0][1] > seen[1][1]


def test_layer_scope_takes_the_same_share_from_every_layer():
    net = fully_convolutional()
    result = medprune.prune(net, X[:1], criterion="magnitude", target="sparsity=0.5", structured=False,
                            scope="layer")
    shares = [layer["sparsity"] for layer in result.achieved["layers"].values()]
    assert shares and all(share == pytest.approx(0.5, abs=0.02) for share in shares)


def test_adaptive_batchnorm_gives_the_pruned_model_its_own_statistics():
    net = fully_convolutional()
    net[1].running_mean.fill_(5.0)  # statistics that no longer describe the activations
    calibration = [(X, Y)]
    kept = medprune.prune(net, X[:1], criterion="magnitude", target="macs=0.5", round_to=1, calibration=calibration,
                          recalibrate_bn=False).model
    fresh = medprune.prune(net, X[:1], criterion="magnitude", target="macs=0.5", round_to=1,
                           calibration=calibration).model
    assert torch.all(kept[1].running_mean == 5.0)
    activations = fresh[0](X).transpose(0, 1).flatten(1).mean(1)
    assert torch.allclose(fresh[1].running_mean, activations, atol=1e-4)
