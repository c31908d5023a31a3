import gzip

import torch

from medprune.models import create_model, load_checkpoint, make_spec, save_checkpoint
from medprune.models._sparse import pack, unpack


def test_pack_round_trips():
    t = torch.randn(40, 30)
    t[t.abs() < 1.2] = 0
    assert torch.equal(unpack(pack(t)), t)


def test_sparse_checkpoint_is_much_smaller_and_reloads_exactly(tmp_path):
    torch.manual_seed(0)
    model = create_model("resnet18", input_shape=(1, 28, 28), n_classes=2).eval()
    spec = make_spec("resnet18", input_shape=(1, 28, 28), class_names=["a", "b"], modality="image", task="binary")
    save_checkpoint(tmp_path / "dense.pt", model, spec)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                w = m.weight
                w[w.abs() < w.abs().flatten().kthvalue(int(0.9 * w.numel())).values] = 0
    save_checkpoint(tmp_path / "sparse.pt", model, spec)
    dense_gz = len(gzip.compress((tmp_path / "dense.pt").read_bytes()))
    sparse_gz = len(gzip.compress((tmp_path / "sparse.pt").read_bytes()))
    assert dense_gz / sparse_gz >= 4
    x = torch.randn(2, 1, 28, 28)
    assert torch.allclose(load_checkpoint(tmp_path / "sparse.pt").model(x), model(x), atol=1e-5)
