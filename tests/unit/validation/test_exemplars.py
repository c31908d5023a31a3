"""The gallery of changed cases shows first what the compressed model now gets wrong, every class in turn."""

import numpy as np

from medprune.validation.exemplars import changes_by_class, flipped_cases
from medprune.validation.paired_metrics import Predictions


def _predictions(p_positive):
    p = np.asarray(p_positive, float)
    return Predictions(np.stack([1 - p, p], 1), 0.5)


def test_now_wrong_cases_come_first_each_class_in_turn_then_the_other_changes():
    y = np.array([1, 1, 1, 1, 0, 0, 1])
    reference = _predictions([0.9, 0.8, 0.7, 0.2, 0.1, 0.2, 0.6])
    # cases 0-2: pneumonia now missed (shifts 0.6, 0.4, 0.3); 3: pneumonia now found; 4: normal now wrong
    # (shift 0.8, the largest of all); 5 and 6 unchanged
    candidate = _predictions([0.3, 0.4, 0.4, 0.9, 0.9, 0.2, 0.6])
    order = [e["index"] for e in flipped_cases(y, reference, candidate)]
    assert order == [4, 0, 1, 2, 3]  # normal's one loss and pneumonia's largest in turn, then the rest, then the gain
    assert changes_by_class(y, reference, candidate) == {0: {"now_wrong": 1, "now_right": 0},
                                                         1: {"now_wrong": 3, "now_right": 1}}
    assert [e["index"] for e in flipped_cases(y, reference, candidate, limit=2)] == [4, 0]
