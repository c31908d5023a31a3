"""Torch-Pruning adapter: any criterion's per-weight scores summed per channel of a dependency group."""

from __future__ import annotations

import torch

from medprune.pruning.criterion import Criterion, Scores


def make_group_importance(criterion: Criterion):
    """A `tp.importance.Importance` whose scores are refreshed with `.refresh(scores)` before each step."""
    import torch_pruning as tp
    from torch_pruning.pruner import function

    out_fns = (function.prune_conv_out_channels, function.prune_linear_out_channels)
    in_fns = (function.prune_conv_in_channels, function.prune_linear_in_channels)

    class GroupScoreImportance(tp.importance.GroupMagnitudeImportance):
        """importance(group) -> 1-D channel scores, from the criterion's weight scores."""

        def __init__(self) -> None:
            # Signed scores cannot be divided by their mean (the order could flip): rescale to [0, 1].
            super().__init__(p=1, group_reduction="mean", normalizer="standarization" if criterion.signed else "mean")
            self.scores: Scores = {}

        def refresh(self, scores: Scores) -> None:
            self.scores = scores

        def _channel_scores(self, layer, prune_fn, idxs) -> torch.Tensor | None:
            score = self.scores.get(layer)
            if score is None:
                return None
            if prune_fn in out_fns:
                per_channel = score[idxs].flatten(1)
                return per_channel.sum(1).abs() if criterion.aggregate == "abs_sum" else per_channel.sum(1)
            if prune_fn in in_fns:
                per_channel = score.transpose(0, 1).flatten(1)
                if prune_fn == function.prune_conv_in_channels and 1 < layer.groups != layer.in_channels:
                    per_channel = per_channel.repeat(layer.groups, 1)
                per_channel = per_channel[idxs]
                return per_channel.sum(1).abs() if criterion.aggregate == "abs_sum" else per_channel.sum(1)
            if prune_fn == function.prune_batchnorm_out_channels:
                return score[idxs].abs() if criterion.aggregate == "abs_sum" else score[idxs]
            return None

        @torch.no_grad()
        def __call__(self, group):
            group_imp, group_idxs = [], []
            for item in group:
                try:
                    local = self._channel_scores(item.dep.layer, item.dep.pruning_fn, item.idxs)
                except IndexError:  # a layer narrower than the group: a 1-channel attention gate broadcast over
                    return None     # the features it weighs (AttentionUnet); the group keeps all its channels
                if local is not None:
                    group_imp.append(local.float())
                    group_idxs.append(item.root_idxs)
            if not group_imp:
                return None
            return self._normalize(self._reduce(group_imp, group_idxs), self.normalizer)

    return GroupScoreImportance()
