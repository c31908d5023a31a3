"""Every criterion prunes every segmentation network of the zoo through its concatenated (or added, or
attention-gated) skips: one output channel per structure at the input's size, and the result reloads.

Every criterion runs on every network in 2D; in 3D every network runs a data-free and a gradient criterion. The
criteria differ only in the scores they give channels, not in how the channel groups are found and cut, and the
full 3D matrix takes a quarter of an hour on two cores."""

import pytest
import torch

from medprune.models import MODELS, create_model, load_checkpoint, make_spec, save_checkpoint
from medprune.pruning import CRITERIA, CalibrationData, Target
from medprune.pruning.structured import DenseFigures, prune_channels

SMALL = {"unet": {"channels": (8, 16, 32, 64)}, "basicunet": {"features": (8, 8, 16, 32, 64, 8)},
         "segresnet": {"init_filters": 8}, "dynunet": {"filters": (8, 16, 32, 64)},
         "attentionunet": {"channels": (8, 16, 32, 64)}}
SEGMENTERS = [n for n in MODELS.names() if MODELS.get(n).task == "segmentation"]


def test_every_segmentation_network_has_a_small_test_configuration():
    assert set(SEGMENTERS) == set(SMALL)


CASES = [(name, (1, 32, 32), criterion) for name in SEGMENTERS for criterion in CRITERIA.names()] + \
        [(name, (1, 16, 16, 16), criterion) for name in SEGMENTERS for criterion in ("magnitude", "taylor")]


@pytest.mark.parametrize(("name", "shape", "criterion"), CASES,
                         ids=[f"{n}-{len(s) - 1}d-{c}" for n, s, c in CASES])
def test_every_criterion_prunes_every_segmentation_network(name, shape, criterion, tmp_path):
    torch.manual_seed(0)
    model = create_model(name, input_shape=shape, n_classes=3, task="segmentation", **SMALL[name]).eval()
    data = CalibrationData([(torch.randn(2, *shape), torch.randint(0, 3, (2, *shape[1:])))], shape)
    dense = DenseFigures.measure(model, shape, with_latency=False)
    pruned, ratio = prune_channels(model, CRITERIA.get(criterion)(), data, Target("macs", 0.6), dense=dense,
                                   n_classes=3, round_to=4)
    assert ratio <= 0.6 or name == "attentionunet"  # its gated groups keep every channel; the rest still shrinks
    assert ratio < 0.95
    x = torch.randn(2, *shape)
    expected = pruned.eval()(x)
    assert expected.shape == (2, 3, *shape[1:])
    spec = make_spec(name, input_shape=shape, class_names=["background", "a", "b"], modality="image",
                     task="segmentation", kwargs=SMALL[name])
    save_checkpoint(tmp_path / "model.pt", pruned, spec)
    assert torch.allclose(load_checkpoint(tmp_path).model(x), expected, atol=1e-4)
