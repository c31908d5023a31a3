"""The registered scores: el2n, grand, forgetting, prototype, random."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from medprune.data.batches import iterate_batches
from medprune.data.audit import penultimate_features
from medprune.data.dataset import Dataset
from medprune.datapruning.score import ProxySettings, Score, register_score, train_proxy
from medprune.evaluation.predict import predict_proba


@register_score
class EL2N(Score):
    """Error L2 norm ||softmax - one-hot|| a few epochs into training, averaged over runs (Paul et al. 2021)."""

    name = "el2n"

    def compute(self, dataset: Dataset, settings: ProxySettings) -> np.ndarray:
        train = dataset.split("train")
        onehot = np.eye(dataset.n_classes)[train.y]
        runs = [predict_proba(train_proxy(dataset, settings, r), train, dataset.preprocessing)
                for r in range(settings.runs)]
        return np.mean([np.linalg.norm(p - onehot, axis=1) for p in runs], axis=0)


@register_score
class GraNd(Score):
    """Per-case gradient norm of the loss over all weights, a few epochs into training, averaged over
    runs (Paul et al. 2021; not at initialisation, where it ranks poorly)."""

    name = "grand"

    def compute(self, dataset: Dataset, settings: ProxySettings) -> np.ndarray:
        from torch.func import functional_call, grad, vmap

        train = dataset.split("train")
        totals = np.zeros(len(train))
        for r in range(settings.runs):
            model = train_proxy(dataset, settings, r).eval()  # BatchNorm in eval: per-case gradients are independent
            params = {k: v.detach() for k, v in model.named_parameters()}
            buffers = {k: v.detach() for k, v in model.named_buffers()}

            def loss(p, x, y):
                logits = functional_call(model, (p, buffers), (x.unsqueeze(0),))
                return F.cross_entropy(logits, y.unsqueeze(0))

            per_case = vmap(grad(loss), in_dims=(None, 0, 0))
            norms = []
            for x, y in iterate_batches(train, 64, preprocessing=dataset.preprocessing):
                grads = per_case(params, x, y)
                norms.append(torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads.values())))
            totals += torch.cat(norms).numpy()
        return totals / settings.runs


@register_score
class Forgetting(Score):
    """Forgetting events (Toneva et al. 2019): how often a case goes from correct to wrong between epochs
    of one training run; cases never learned count as the most forgotten."""

    name = "forgetting"

    def compute(self, dataset: Dataset, settings: ProxySettings) -> np.ndarray:
        train = dataset.split("train")
        history: list[np.ndarray] = []
        epochs = max(settings.epochs, 4)  # events need several epochs to show

        def record(model, _epoch):
            history.append(predict_proba(model, train, dataset.preprocessing).argmax(1) == train.y)

        train_proxy(dataset, replace(settings, epochs=epochs), 0, on_epoch_end=record)
        correct = np.stack(history)
        events = ((correct[:-1]) & (~correct[1:])).sum(0).astype(float)
        events[~correct.any(0)] = epochs  # never learned: harder than any forgotten case
        return events


@register_score
class Prototype(Score):
    """Distance to the nearest k-means centroid of penultimate features, clustered without labels
    (Sorscher et al. 2022, who use self-supervised features; here a short proxy run's): far from every
    prototype = hard or atypical."""

    name = "prototype"
    uses_labels = False

    def compute(self, dataset: Dataset, settings: ProxySettings) -> np.ndarray:
        from sklearn.cluster import KMeans

        model = train_proxy(dataset, settings, 0)
        features = penultimate_features(model, dataset, "train")
        k = min(len(features), 10 * dataset.n_classes)
        kmeans = KMeans(n_clusters=k, n_init=3, random_state=settings.seed).fit(features)
        return kmeans.transform(features).min(axis=1)


@register_score
class Random(Score):
    """Uniform random scores: the control every score must beat."""

    name = "random"
    uses_labels = False

    def compute(self, dataset: Dataset, settings: ProxySettings) -> np.ndarray:
        return np.random.default_rng(settings.seed).random(len(dataset.split("train")))


__all__ = ["EL2N", "Forgetting", "GraNd", "Prototype", "Random"]
