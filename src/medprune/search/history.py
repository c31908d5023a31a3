"""Finished trials as points: the study's history, its Pareto front and the best score so far."""

from __future__ import annotations

import math
from typing import Any


def trial_points(study) -> list[dict[str, Any]]:
    import optuna

    points = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        a = t.user_attrs
        points.append({"number": t.number, "objective": a["objective"], "value": t.value,
                       "cost_ratio": a["cost_ratio"], "macs_ratio": a["macs_ratio"], "feasible": a["feasible"],
                       "repaired": a.get("repaired", False), "keep": a["keep"],
                       "validation": a.get("validation", {})})
    return sorted(points, key=lambda p: p["number"])


def best_so_far(points: list[dict[str, Any]]) -> list[float]:
    best, out = -math.inf, []
    for p in points:
        best = max(best, p["value"])
        out.append(best)
    return out


def pareto_front(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trials no other trial beats on both objective (higher) and cost (lower)."""
    front = [p for p in points
             if not any(q["objective"] >= p["objective"] and q["cost_ratio"] <= p["cost_ratio"] and
                        (q["objective"], q["cost_ratio"]) != (p["objective"], p["cost_ratio"]) for q in points)]
    return sorted(front, key=lambda p: p["cost_ratio"])
