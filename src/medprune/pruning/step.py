"""One pruning step on a model in memory: remove channels, or zero weights, until a target is met.

Both `medprune.prune` (any network, plain objects) and the run-directory `prune` verb take their steps
here, so a schedule, a criterion or a target means the same thing in Python, on the command line and in
a recipe.
"""

from __future__ import annotations

from torch import nn

from medprune.pruning.criterion import CalibrationData, Criterion
from medprune.pruning.structured import DenseFigures, prune_channels
from medprune.pruning.target import Target
from medprune.pruning.unstructured import (apply_masks, compute_masks, compute_nm_masks, parse_pattern,
                                           prunable_layers, zero_fraction)


def prune_step(model: nn.Module, criterion: Criterion, data: CalibrationData, target: Target, *,
               dense: DenseFigures, n_classes: int, structured: bool, scope: str = "global",
               max_layer_ratio: float, round_to: int = 8, pattern: str | None = None,
               ignored_layers: list[nn.Module] = ()) -> tuple[nn.Module, float]:
    """Prune `model` once to `target`; returns the pruned model and the figure reached (MACs, parameter or
    latency ratio when structured, zero fraction otherwise).

    Structured: a new model with fewer channels (widths multiples of `round_to`; the output layer and
    `ignored_layers` keep theirs). Unstructured: masks on `model` itself, kept while it is fine-tuned
    (`make_permanent` bakes them in); `pattern` "N:M" keeps N of every M weights instead of a sparsity.
    """
    if structured:
        return prune_channels(model, criterion, data, target, dense=dense, n_classes=n_classes,
                              global_ranking=scope == "global", max_layer_ratio=max_layer_ratio,
                              round_to=round_to, ignored_layers=ignored_layers)
    layers = prunable_layers(model)
    if pattern:
        n, m = parse_pattern(pattern)
        apply_masks(compute_nm_masks(criterion.weight_scores(model, data), layers, n, m))
        return model, zero_fraction(model)[0]
    start = zero_fraction(model)[0]
    rounds = criterion.rounds
    for r in range(1, rounds + 1):  # exponential steps for criteria that must re-score (SynFlow)
        sparsity = 1 - (1 - start) * ((1 - target.value) / (1 - start)) ** (r / rounds) if start < 1 else 1.0
        scores = criterion.weight_scores(model, data)
        apply_masks(compute_masks(scores, layers, sparsity, scope=scope, max_layer_ratio=max_layer_ratio))
    return model, zero_fraction(model)[0]
