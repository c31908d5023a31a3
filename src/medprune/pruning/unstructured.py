"""Unstructured pruning: weight masks (global or per layer, N:M patterns) on Conv2d and Linear weights.

Masks are torch.nn.utils.prune re-parametrizations while fine-tuning and are made permanent at the
end. They shrink the compressed file but give no CPU speed-up: dense kernels still multiply zeros.
"""

from __future__ import annotations

import copy
import re

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from medprune.errors import ConfigError
from medprune.pruning.criterion import PRUNABLE, Scores


def copy_model(model: nn.Module) -> nn.Module:
    """A deep copy that also works while masks are installed.

    A masked layer holds its effective weight as a computed (non-leaf) tensor, which deepcopy
    refuses; it is recomputed before every forward pass, so a detached stand-in is safe.
    """
    for layer in model.modules():
        if torch_prune.is_pruned(layer) and "weight" in layer.__dict__:
            layer.weight = layer.weight.detach()
    return copy.deepcopy(model)


def prunable_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, PRUNABLE)]


def parse_pattern(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+):(\d+)", text.strip())
    if not match or not 0 < int(match[1]) < int(match[2]):
        raise ConfigError(f"pattern '{text}' is not N:M with 0 < N < M: write e.g. 2:4")
    return int(match[1]), int(match[2])


def _ranked(scores: Scores, layers: list[nn.Module]) -> dict[nn.Module, torch.Tensor]:
    """Scores with weights that are already zero forced to -inf, so a pruned weight stays pruned."""
    return {m: torch.where(m.weight.detach() == 0, torch.tensor(-torch.inf), scores[m].float()) for m in layers}


def _global_counts(ranked: dict[nn.Module, torch.Tensor], n_prune: int, max_ratio: float) -> dict[nn.Module, int]:
    """How many weights each layer loses when the `n_prune` lowest scores overall go, no layer above `max_ratio`."""
    layers = list(ranked)
    values = torch.cat([ranked[m].flatten() for m in layers])
    ids = torch.cat([torch.full((ranked[m].numel(),), i) for i, m in enumerate(layers)])
    ids_sorted = ids[torch.argsort(values, stable=True)]
    rank_in_layer = torch.empty_like(ids_sorted)
    for i in range(len(layers)):
        where = (ids_sorted == i).nonzero().flatten()
        rank_in_layer[where] = torch.arange(len(where))
    caps = torch.tensor([int(max_ratio * ranked[m].numel()) for m in layers])
    eligible = (rank_in_layer < caps[ids_sorted]).nonzero().flatten()[:n_prune]
    counts = torch.bincount(ids_sorted[eligible], minlength=len(layers))
    return {m: int(c) for m, c in zip(layers, counts)}


def compute_masks(scores: Scores, layers: list[nn.Module], sparsity: float, *, scope: str = "global",
                  max_layer_ratio: float = 0.95) -> dict[nn.Module, torch.Tensor]:
    """Boolean keep-masks reaching `sparsity` over `layers` (fraction of their weights zeroed)."""
    ranked = _ranked(scores, layers)
    if scope == "global":
        total = sum(s.numel() for s in ranked.values())
        counts = _global_counts(ranked, round(sparsity * total), max_layer_ratio)
    else:
        counts = {m: round(min(sparsity, max_layer_ratio) * s.numel()) for m, s in ranked.items()}
    masks = {}
    for m, s in ranked.items():
        keep = torch.ones(s.numel(), dtype=torch.bool)
        keep[s.flatten().argsort(stable=True)[: counts[m]]] = False
        masks[m] = keep.view_as(s)
    return masks


def compute_nm_masks(scores: Scores, layers: list[nn.Module], n: int, m: int) -> dict[nn.Module, torch.Tensor]:
    """Keep the N best of every M consecutive input channels (per output and kernel position).

    Layers whose input width is not a multiple of M (e.g. the first conv of a grey image) stay dense.
    """
    masks = {}
    for layer, s in _ranked(scores, layers).items():
        if s.shape[1] % m:
            continue
        moved = s.movedim(1, -1)  # (out, [kh, kw,] in): groups run along input channels
        groups = moved.reshape(-1, m)
        keep = torch.zeros_like(groups, dtype=torch.bool)
        keep.scatter_(1, groups.topk(n, dim=1).indices, True)
        masks[layer] = keep.reshape(moved.shape).movedim(-1, 1)
    return masks


def apply_masks(masks: dict[nn.Module, torch.Tensor]) -> None:
    """Install masks as re-parametrizations (gradients of masked weights are zero while fine-tuning)."""
    for layer, mask in masks.items():
        if torch_prune.is_pruned(layer):
            torch_prune.remove(layer, "weight")
        torch_prune.custom_from_mask(layer, "weight", mask)


def make_permanent(model: nn.Module) -> None:
    """Fold every mask into its weight (zeros stay), removing the re-parametrization."""
    for layer in prunable_layers(model):
        if torch_prune.is_pruned(layer):
            torch_prune.remove(layer, "weight")


def zero_fraction(model: nn.Module) -> tuple[float, dict[str, float]]:
    """Fraction of Conv2d / Linear weights that are zero: overall and per layer."""
    per_layer, zeros, total = {}, 0, 0
    for name, layer in model.named_modules():
        if isinstance(layer, PRUNABLE):
            w = layer.weight.detach()
            z = int((w == 0).sum())
            per_layer[name] = z / w.numel()
            zeros, total = zeros + z, total + w.numel()
    return (zeros / total if total else 0.0), per_layer
