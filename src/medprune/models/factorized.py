"""Low-rank layers: a convolution (1D, 2D or 3D) or Linear replaced by two thinner ones (rank r), recorded by name and rank.

A convolution W (out, in, k, k) becomes a k x k convolution to r channels followed by a 1 x 1
convolution to `out` (channel SVD, Zhang et al. 2016); a Linear W (out, in) becomes Linear(in, r)
then Linear(r, out). Checkpoints record {layer name: rank} so the structure is rebuilt before the
weights are loaded.
"""

from __future__ import annotations

import torch
from torch import nn

from medprune.models.conv import CONV_LAYERS
from medprune.errors import CheckpointError


def factorizable(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or (isinstance(module, CONV_LAYERS) and module.groups == 1)


def layer_matrix(module: nn.Module) -> torch.Tensor:
    """The weight as an (out, in * k * k) matrix."""
    return module.weight.detach().reshape(module.weight.shape[0], -1)


def low_rank_pair(module: nn.Module, rank: int) -> nn.Sequential:
    """Two layers of the factorised shape (weights not yet set); the bias stays on the second."""
    bias = module.bias is not None
    if isinstance(module, nn.Linear):
        return nn.Sequential(nn.Linear(module.in_features, rank, bias=False),
                             nn.Linear(rank, module.out_features, bias=bias))
    conv = type(module)
    return nn.Sequential(
        conv(module.in_channels, rank, module.kernel_size, module.stride, module.padding, module.dilation,
             bias=False, padding_mode=module.padding_mode),
        conv(rank, module.out_channels, 1, bias=bias))


@torch.no_grad()
def factorize(module: nn.Module, rank: int) -> nn.Sequential:
    """The best rank-`rank` approximation of the layer (truncated SVD), split evenly between the two."""
    u, s, vh = torch.linalg.svd(layer_matrix(module).double(), full_matrices=False)
    root = s[:rank].sqrt()
    pair = low_rank_pair(module, rank)
    first, second = pair
    first.weight.copy_((root[:, None] * vh[:rank]).reshape(first.weight.shape).to(first.weight.dtype))
    second.weight.copy_((u[:, :rank] * root).reshape(second.weight.shape).to(second.weight.dtype))
    if module.bias is not None:
        second.bias.copy_(module.bias)
    return pair


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def apply_factorized_structure(model: nn.Module, ranks: dict[str, int]) -> nn.Module:
    """Rebuild the low-rank layers a checkpoint records, so its weights can be loaded."""
    modules = dict(model.named_modules())
    for name, rank in ranks.items():
        if name not in modules or not factorizable(modules[name]):
            raise CheckpointError(f"the checkpoint factorises a layer '{name}' that this architecture lacks: "
                                  "it was saved from a different model")
        replace_module(model, name, low_rank_pair(modules[name], int(rank)))
    return model
