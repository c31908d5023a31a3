"""Compression-identified exemplars: the cases whose decision the compressed model changes
(Hooker et al. 2019, "What do compressed deep neural networks forget?")."""

from __future__ import annotations

import itertools

import numpy as np

from medprune.validation.paired_metrics import Predictions


def probability_shift(reference: Predictions, candidate: Predictions) -> np.ndarray:
    """Total variation distance between the two models' class probabilities, per case."""
    return 0.5 * np.abs(candidate.probs - reference.probs).sum(axis=1)


def flipped_cases(y: np.ndarray, reference: Predictions, candidate: Predictions, limit: int = 24) -> list[dict]:
    """Cases whose predicted class changed: first those the candidate now gets wrong, taking each true class in
    turn (so a class with few such cases is not crowded out), the largest probability shift first within a class;
    then the other changes, largest shift first."""
    ref_pred, cand_pred = reference.predicted, candidate.predicted
    shift = probability_shift(reference, candidate)
    changed = np.flatnonzero(ref_pred != cand_pred)
    changed = changed[np.argsort(-shift[changed], kind="stable")]
    lost = (ref_pred[changed] == y[changed]) & (cand_pred[changed] != y[changed])
    per_class = [list(changed[lost & (y[changed] == k)]) for k in np.unique(y[changed[lost]])]
    in_turns = [c for turn in itertools.zip_longest(*per_class) for c in turn if c is not None]
    changed = np.asarray(in_turns + list(changed[~lost]), dtype=int)
    return [{"index": int(i), "label": int(y[i]), "reference_prediction": int(ref_pred[i]),
             "candidate_prediction": int(cand_pred[i]), "probability_shift": float(shift[i]),
             "now_correct": bool(cand_pred[i] == y[i]), "was_correct": bool(ref_pred[i] == y[i])}
            for i in changed[:limit]]


def changes_by_class(y: np.ndarray, reference: Predictions, candidate: Predictions) -> dict[int, dict[str, int]]:
    """Per true class: how many cases the candidate now gets wrong (the reference was right) and now gets right."""
    ref_right, cand_right = reference.predicted == y, candidate.predicted == y
    return {int(k): {"now_wrong": int((ref_right & ~cand_right & (y == k)).sum()),
                     "now_right": int((~ref_right & cand_right & (y == k)).sum())} for k in np.unique(y)}


def modal_flips(y: np.ndarray, reference: Predictions, candidates: list[Predictions], limit: int = 24) -> list[dict]:
    """With several candidates: cases where the most common candidate prediction differs from the reference."""
    preds = np.stack([c.predicted for c in candidates])
    n_classes = reference.probs.shape[1]
    votes = np.stack([(preds == k).sum(axis=0) for k in range(n_classes)])
    modal = votes.argmax(axis=0)
    changed = np.flatnonzero(modal != reference.predicted)
    agreement = votes.max(axis=0) / len(candidates)
    changed = changed[np.argsort(-agreement[changed], kind="stable")]
    return [{"index": int(i), "label": int(y[i]), "reference_prediction": int(reference.predicted[i]),
             "modal_prediction": int(modal[i]), "candidate_agreement": float(agreement[i])} for i in changed[:limit]]
