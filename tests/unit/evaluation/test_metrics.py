"""Metrics checked against scikit-learn and against slow, obviously correct references."""

import numpy as np
import pytest
from sklearn import metrics as skm

from medprune.errors import ConfigError
from medprune.evaluation import (choose_threshold, compute_auprc, compute_auroc, compute_balanced_accuracy,
                                 compute_brier, compute_classification_metrics, compute_confusion_rates,
                                 compute_ece)


@pytest.fixture
def binary():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 500), 0, 1)
    return y, p


@pytest.fixture
def multiclass():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 400)
    logits = rng.normal(size=(400, 4)) + 1.5 * np.eye(4)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, p


def test_binary_auroc_auprc_match_sklearn(binary):
    y, p = binary
    assert compute_auroc(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert compute_auprc(y, p) == pytest.approx(skm.average_precision_score(y, p))


def test_multiclass_auroc_is_macro_one_vs_rest(multiclass):
    y, p = multiclass
    assert compute_auroc(y, p) == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))


def test_confusion_rates_match_sklearn(binary):
    y, p = binary
    pred = (p >= 0.5).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    rates = compute_confusion_rates(y, pred)
    assert rates["sensitivity"] == pytest.approx(skm.recall_score(y, pred))
    assert rates["specificity"] == pytest.approx(tn / (tn + fp))
    assert rates["ppv"] == pytest.approx(skm.precision_score(y, pred))
    assert rates["npv"] == pytest.approx(tn / (tn + fn))
    assert (rates["tp"], rates["fn"]) == (tp, fn)


def test_balanced_accuracy_matches_sklearn(multiclass):
    y, p = multiclass
    pred = p.argmax(1)
    assert compute_balanced_accuracy(y, pred) == pytest.approx(skm.balanced_accuracy_score(y, pred))


def test_brier_matches_sklearn(binary, multiclass):
    y, p = binary
    assert compute_brier(y, p) == pytest.approx(skm.brier_score_loss(y, p))
    y, p = multiclass
    slow = np.mean([sum((p[i, k] - (y[i] == k)) ** 2 for k in range(4)) for i in range(len(y))])
    assert compute_brier(y, p) == pytest.approx(slow)


def test_ece_equal_mass_matches_slow_reference(binary):
    y, p = binary
    order = sorted(range(len(p)), key=lambda i: p[i])
    bins = [order[i * len(order) // 10:(i + 1) * len(order) // 10] for i in range(10)]
    slow = sum(len(b) / len(p) * abs(np.mean([y[i] for i in b]) - np.mean([p[i] for i in b])) for b in bins)
    assert compute_ece(y, p, n_bins=10) == pytest.approx(slow)


def test_ece_of_perfectly_calibrated_probabilities_is_small():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert compute_ece(y, p) < 0.01


def test_youden_threshold_maximises_j_by_brute_force(binary):
    y, p = binary
    t = choose_threshold(y, p)

    def j(thr):
        r = compute_confusion_rates(y, p >= thr)
        return r["sensitivity"] + r["specificity"] - 1

    assert j(t) == pytest.approx(max(j(c) for c in np.unique(p)))


def test_target_sensitivity_threshold(binary):
    y, p = binary
    t = choose_threshold(y, p, target_sensitivity=0.95)
    assert compute_confusion_rates(y, p >= t)["sensitivity"] >= 0.95
    higher = p[p > t].min()
    assert compute_confusion_rates(y, p >= higher)["sensitivity"] < 0.95
    with pytest.raises(ConfigError, match=r"target sensitivity must be in \(0, 1\]"):
        choose_threshold(y, p, target_sensitivity=95)


def test_classification_metrics_keys_and_multiclass_per_class(multiclass):
    y, p = multiclass
    out = compute_classification_metrics(y, p, None)
    assert len(out["per_class"]) == 4
    assert out["sensitivity"] == pytest.approx(skm.balanced_accuracy_score(y, p.argmax(1)))
    assert out["per_class"][2]["auroc"] == pytest.approx(skm.roc_auc_score(y == 2, p[:, 2]))


def test_single_class_auroc_is_nan_not_an_error():
    assert np.isnan(compute_auroc(np.ones(10, int), np.linspace(0, 1, 10)))
