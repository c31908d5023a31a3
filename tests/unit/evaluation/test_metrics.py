"""Metrics checked against scikit-learn and against slow, obviously correct references."""

import numpy as np
import pytest
from sklearn import metrics as skm

from medprune.errors import ConfigError, DataError
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


def test_ece_does_not_depend_on_the_order_of_tied_cases():
    rng = np.random.default_rng(0)
    p = np.round(rng.uniform(size=300), 1)  # eleven distinct values: many ties across bin edges
    y = (rng.uniform(size=300) < p).astype(int)
    values = {round(compute_ece(y[perm], p[perm]), 12) for perm in (rng.permutation(300) for _ in range(20))}
    assert len(values) == 1


def test_calibration_slope_and_intercept_match_statsmodels():
    import statsmodels.api as sm

    from medprune.evaluation.calibration import compute_calibration_slope_intercept

    rng = np.random.default_rng(4)
    p = 1 / (1 + np.exp(-rng.normal(scale=2, size=400)))
    y = (rng.uniform(size=400) < np.clip(p * 0.7 + 0.05, 0, 1)).astype(int)  # over-confident, too high on average
    logit = np.log(p / (1 - p))
    slope_fit = sm.Logit(y, sm.add_constant(logit)).fit(disp=0)
    in_the_large = sm.GLM(y, np.ones((400, 1)), family=sm.families.Binomial(), offset=logit).fit()
    slope, intercept = compute_calibration_slope_intercept(y, p)
    assert slope == pytest.approx(slope_fit.params[1], abs=1e-5)
    assert intercept == pytest.approx(in_the_large.params[0], abs=1e-5)
    assert intercept != pytest.approx(slope_fit.params[0], abs=1e-3)  # not the joint model's intercept


def test_youden_ties_go_to_the_highest_threshold_whatever_the_float_noise():
    # Thresholds 0.8 and 0.3 give the same J exactly in counts (sens 2/3, spec 1 vs sens 1, spec 2/3),
    # a tie that tpr - fpr in floating point breaks arbitrarily.
    y = np.repeat([1, 1, 1, 0, 0, 0], 5)
    p = np.repeat([0.9, 0.8, 0.3, 0.35, 0.2, 0.1], 5)
    assert choose_threshold(y, p) == 0.8


def test_threshold_refuses_a_validation_split_it_cannot_use():
    with pytest.raises(DataError, match="no cases of class 0 .* --val-fraction"):
        choose_threshold(np.ones(10, int), np.linspace(0, 1, 10))
    with pytest.raises(DataError, match="only 2 cases of one class .* --val-fraction"):
        choose_threshold(np.array([0] * 20 + [1, 1]), np.linspace(0, 1, 22))
