"""The public functions on a team's own predictions: same rule as `validate`, checked inputs, light import."""

import json

import numpy as np
import pytest
from sklearn.metrics import recall_score, roc_auc_score

import medprune
from medprune.errors import ConfigError, DataError


def _case(n_per_class=150, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n_per_class)
    p = 1 / (1 + np.exp(-(2.5 * (y - 0.5) + rng.normal(size=len(y)))))
    return y, p


def test_verdicts_and_report_on_plain_arrays(tmp_path):
    y, p = _case()
    report = medprune.validate_predictions(y, p, {"same": p, "shifted": p ** 4}, threshold=0.5, margins=0.01,
                                           positive_class="disease", class_names=["normal", "disease"],
                                           groups={"site": np.where(np.arange(len(y)) % 2, "A", "B")})
    assert report.verdicts == {"same": "non-inferior", "shifted": "inferior"}
    shifted = report.to_dict()["candidates"][1]
    assert shifted["failed_endpoints"] == ["sensitivity"] and shifted["endpoints"]["auroc"]["delta"] == 0
    assert [g["group"] for g in shifted["subgroups"]["site"]] == ["A", "B"]
    report.save(tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "validation.json").read_text())
    html = (tmp_path / "out" / "report.html").read_text()
    assert saved["positive_class"] == "disease" and "positive (disease) class" in html


def test_a_positive_class_listed_first_gives_the_same_answer_as_one_listed_second():
    y, p = _case()
    first = medprune.validate_predictions(y, p, {"c": p ** 2}, threshold=0.5, margins=0.01, positive_class=1)
    flipped = medprune.validate_predictions(1 - y, np.column_stack([p, 1 - p]), {"c": np.column_stack([p ** 2, 1 - p ** 2])},
                                            threshold=0.5, margins=0.01, positive_class=0)
    a, b = first.to_dict()["candidates"][0], flipped.to_dict()["candidates"][0]
    for name in ("auroc", "sensitivity", "specificity"):
        assert a["endpoints"][name]["delta"] == pytest.approx(b["endpoints"][name]["delta"])
        assert a["endpoints"][name]["ci_low"] == pytest.approx(b["endpoints"][name]["ci_low"])


def test_margins_by_endpoint_and_a_single_endpoint():
    y, p = _case()
    report = medprune.validate_predictions(y, p, {"c": p ** 4}, threshold=0.5, margins={"auroc": 0.01},
                                           endpoints=["auroc"], positive_class=1)
    assert report.verdicts == {"c": "non-inferior"}  # the operating point is not judged when left out
    wide = medprune.validate_predictions(y, p, {"c": p ** 4}, threshold=0.5, positive_class=1,
                                         margins={"auroc": 0.01, "sensitivity": 0.5, "specificity": 0.05})
    assert wide.to_dict()["candidates"][0]["endpoints"]["sensitivity"]["margin"] == 0.5


@pytest.mark.parametrize("change, error, match", [
    (dict(threshold=None), ConfigError, "pass threshold="),
    (dict(positive_class=None), ConfigError, "name the disease"),
    (dict(positive_class="sick"), ConfigError, "is not one of"),
    (dict(y_prob_reference="nan"), DataError, "NaN or infinite"),
    (dict(y_prob_reference="logits"), DataError, "outside \\[0, 1\\]"),
    (dict(y_prob_reference="short"), DataError, "has shape"),
    (dict(y_true="seven"), DataError, "holds the label 7"),
    (dict(groups={"site": np.zeros(3)}), DataError, "one value per case"),
    (dict(candidates={}), ConfigError, "candidates is empty"),
    (dict(margins={"sensitivity": 0.05}), ConfigError, "no margin for the primary metric"),
])
def test_bad_inputs_are_one_clear_error(change, error, match):
    y, p = _case(40)
    args = dict(y_true=y, y_prob_reference=p, candidates={"c": p}, threshold=0.5, margins=0.01, positive_class=1)
    special = {"nan": np.where(np.arange(len(p)) == 3, np.nan, p), "logits": p * 4 - 2, "short": p[:-1],
               "seven": np.where(np.arange(len(y)) == 0, 7, y)}
    args.update({k: special.get(v, v) if isinstance(v, str) else v for k, v in change.items()})
    with pytest.raises(error, match=match):
        medprune.validate_predictions(args.pop("y_true"), args.pop("y_prob_reference"), args.pop("candidates"), **args)


def test_evaluate_predictions_matches_scikit_learn():
    y, p = _case()
    result = medprune.evaluate_predictions(y, p, threshold=0.6, positive_class=1)
    assert result.auroc == pytest.approx(roc_auc_score(y, p))
    assert result.sensitivity == pytest.approx(recall_score(y, p >= 0.6))
    assert result.to_dict()["positive_class"] == "1"
    flipped = medprune.evaluate_predictions(1 - y, 1 - p, threshold=0.6, positive_class=0)  # P(label 1) = 1 - p
    assert flipped.sensitivity == pytest.approx(result.sensitivity)


def test_public_names_are_listed_and_unknown_ones_refused():
    public = {"validate_predictions", "evaluate_predictions", "choose_threshold", "ValidationReport", "prune",
              "PruneResult", "finetune", "register_model", "export_onnx"}
    assert public <= set(medprune.__all__) and all(callable(getattr(medprune, n)) for n in public)
    with pytest.raises(AttributeError, match="no attribute 'prune_everything'"):
        medprune.prune_everything  # noqa: B018
