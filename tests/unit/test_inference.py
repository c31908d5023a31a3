import pytest
import torch

from medprune.deploy.inference import for_cpu_inference
from medprune.models import create_model


@pytest.mark.parametrize("name, shape", [("smallcnn", (1, 16, 16)), ("resnet18", (1, 28, 28)),
                                         ("smallcnn", (1, 8, 8, 8))])
def test_folded_channels_last_model_gives_the_same_outputs(name, shape):
    torch.manual_seed(0)
    model = create_model(name, input_shape=shape, n_classes=3, modality="image").eval()
    for m in model.modules():  # non-trivial BatchNorm statistics, so folding has something to fold
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    fast = for_cpu_inference(model)
    x = torch.randn(4, *shape)
    with torch.no_grad():
        assert torch.allclose(fast(x), model(x), atol=1e-4)
    bn = (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
    assert not any(isinstance(m, bn) for m in fast.modules())  # every BatchNorm folded
    assert any(isinstance(m, bn) for m in model.modules())  # the original is untouched
