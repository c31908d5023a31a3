"""search.json: every trial of a per-layer ratio search, its Pareto front, and the model it chose."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from medprune.records.base import Record


class Counts(BaseModel):
    finished: int
    repaired: int  # moved into the budget by the repair step
    rejected: int  # stopped early by the pruner
    infeasible: int  # missing a --require on validation
    failed: int
    stale_marked_failed: int
    warm_started: int


class TrialPoint(BaseModel):
    number: int
    objective: float  # the validation objective
    value: float  # what the sampler optimised (the objective, penalised when a requirement is missed)
    cost_ratio: float
    feasible: bool
    repaired: bool


class ParetoPoint(BaseModel):
    number: int
    objective: float
    cost_ratio: float
    macs_ratio: float


class Layout(BaseModel):
    """Kept share of each group's channels (by the layer the group is rooted at), and what it costs."""

    ratios: dict[str, float]
    cost_ratio: float
    macs_ratio: float


class TopTrial(BaseModel):
    trial: int
    objective: float
    ratios: dict[str, float]


class ShortFinetune(BaseModel):
    trial: int
    objective: float
    requirements_met: bool


class OperatingShift(BaseModel):
    dense: float
    searched: float


class Best(BaseModel):
    """The chosen trial after its fine-tune, tested; the model is in `dir`."""

    trial: int
    ratios: dict[str, float]
    objective: float
    objective_after_finetune: float
    validation_after_finetune: dict[str, float]
    requirements_met_on_validation: bool
    macs_ratio: float
    cost_ratio: float
    latency_ms: float
    dense_latency_ms: float
    latency_batch: int = 32  # cases per timed batch: 32 images, or 1 volume / image of a segmentation model
    runtime: str
    test: dict[str, Any]  # the evaluation record of the test split

    @property
    def test_figure(self) -> str:
        """The headline test figure in words: mean Dice of a segmentation model, else AUROC."""
        if "mean_dice" in self.test:
            return f"test mean Dice {self.test['mean_dice']:.4f}"
        return f"test AUROC {self.test['auroc']:.4f}"
    dir: str
    short_finetune: list[ShortFinetune]
    operating_point_shift: dict[str, OperatingShift]  # validation rates lost by more than the operating margin


class SearchRecord(Record):
    sampler: str
    trials: int
    objective: str
    require: list[str]
    operating_margin: float
    target: str  # KIND=VALUE, e.g. macs=0.5
    criterion: str
    counts: Counts
    wall_time_s: float
    workers: int
    backend: str
    storage: str
    history: list[TrialPoint]
    best_so_far: list[float]
    pareto: list[ParetoPoint]
    uniform: Layout
    top: list[TopTrial]
    config: dict[str, Any]
    best: Best | None = None  # None: no trial met every requirement

    @property
    def target_kind(self) -> str:
        return self.target.split("=")[0]

    @property
    def target_value(self) -> float:
        return float(self.target.split("=")[1])
