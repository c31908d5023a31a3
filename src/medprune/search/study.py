"""The study: trials stored in an Optuna database (SQLite by default), run by one or more workers.

Every worker loads the dense model and data itself, builds the same search space (seeded), and loops:
ask the learner for a vector, repair it into the budget, materialise and score it, tell the study.
A finished trial is in the database before the next starts, so a killed search loses at most the
trials that were running; `--resume` marks those failed and continues.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pydantic import Field, field_validator

from medprune.errors import ConfigError
from medprune.evaluation.operating_point import check_operating_margin
from medprune.schema import Settings, checked
from medprune.search.evaluator import Evaluator
from medprune.search.learners import LEARNERS, Finished

STUDY_NAME = "medprune-search"
INFEASIBLE_PENALTY = 1.0  # a constraint-violating candidate scores below every feasible one


NOT_AN_OPTION = {"cli": False}  # set by the program or by another option, not by a flag of its own


class SearchConfig(Settings):
    """What a search looks for, declared once for `medprune search` and Python; plain values, so it crosses
    process and Ray boundaries."""

    model: str = Field(default="", json_schema_extra=NOT_AN_OPTION,
                       description="The dense model: a run directory or model.pt (required).")
    storage: str | None = Field(default=None, description="Optuna storage URL (default sqlite:///OUT/study.db).")
    data: str | None = Field(default=None, json_schema_extra=NOT_AN_OPTION,
                             description="Data to search on (default: the model's own).")
    data_dir: str | None = Field(default=None, json_schema_extra=NOT_AN_OPTION)
    criterion: str = Field(default="taylor", description="Channel ranking inside each layer (see `medprune list "
                                                         "criteria`).")
    target: str = Field(default="macs=0.25", description=(
        "Budget: macs=0.25 (analytic) or latency=0.4 (per-layer latency table measured on this machine in "
        "--runtime)."))
    runtime: str = Field(default="torch", description=(
        "Where latency targets are measured: torch, onnxruntime or openvino (the runtime that will serve the "
        "model)."))
    sampler: str = Field(default="tpe", description="Learner: tpe, gp, pso, evolution or random.")
    trials: int = Field(default=60, description="Finished trials the study should hold.")
    objective: str = Field(default="auroc", description="Validation objective: auroc or sens@spec=0.9 (dice for "
                                                        "segmentation).")
    require: list[str] | None = Field(default=None, description=(
        "Constraint on validation at the reference threshold, e.g. sensitivity>=0.95 (repeatable)."))
    operating_margin: float = Field(default=0.05, description=(
        "Reject trials whose validation sensitivity or specificity at the reference threshold falls by more than "
        "this (1 turns the guard off)."))
    max_layer_ratio: float = Field(default=0.9, gt=0, lt=1, description="No layer loses more than this share of "
                                                                          "its channels.")
    round_to: int = Field(default=8, ge=1, description=(
        "Kept channel counts are multiples of this (CPU kernels vectorise by 8 or 16 floats; 1: no rounding)."))
    calibration_batches: int = Field(default=4, ge=1, json_schema_extra=NOT_AN_OPTION)
    bn_batches: int = Field(default=8, ge=1, description="Training batches for BatchNorm recalibration per trial.")
    batch_size: int = Field(default=64, ge=1, json_schema_extra=NOT_AN_OPTION)
    budget_policy: str = Field(default="repair", description="Candidates over budget: repair (shrink) or reject.")
    seed: int = Field(default=0, description="Seed of the learner and the data batches.")
    sampler_options: dict[str, Any] = Field(default_factory=dict, json_schema_extra=NOT_AN_OPTION)
    latency_table: str | None = Field(default=None, json_schema_extra=NOT_AN_OPTION,
                                      description="JSON cache of per-layer latencies (latency targets).")

    @field_validator("operating_margin")
    @classmethod
    def _margin(cls, value: float) -> float:
        return checked(lambda m: check_operating_margin(m, "--operating-margin"), value)

    @field_validator("require")
    @classmethod
    def _none_is_no_requirement(cls, value: list[str] | None) -> list[str]:
        return list(value or [])

    def identity(self) -> dict[str, Any]:
        """The settings a resumed study must share with the one it continues."""
        return {k: v for k, v in self.to_dict().items() if k not in ("trials", "storage", "data_dir", "latency_table")}


def make_storage(url: str):
    import optuna

    try:
        if url.startswith("sqlite"):
            # Several worker processes share one SQLite file: wait for the lock instead of failing.
            return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})
        return optuna.storages.RDBStorage(url)
    except Exception as err:  # unreachable server, bad URL, missing driver
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:140]
        raise ConfigError(f"cannot open the study storage '{url}' ({first}): check the URL and that the database "
                          "is reachable, or leave --storage out to use DIR/study.db") from None


def names(n: int) -> list[str]:
    return [f"g{i}" for i in range(n)]


def finished_trials(study, trials: list | None = None) -> list[Finished]:
    import optuna

    trials = study.get_trials(deepcopy=False) if trials is None else trials
    return [Finished(t.number, list(t.user_attrs["keep"]), float(t.value), dict(t.user_attrs))
            for t in trials if t.state == optuna.trial.TrialState.COMPLETE]


def count_states(study, trials: list | None = None) -> dict[str, int]:
    """Trials per state; surplus trials (asked by two workers at once, then dropped) are not counted."""
    import optuna

    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    trials = [t for t in trials if not t.user_attrs.get("surplus")]
    return {name: sum(t.state == state for t in trials)
            for name, state in (("complete", states.COMPLETE), ("running", states.RUNNING),
                                ("pruned", states.PRUNED), ("failed", states.FAIL))}


def fail_stale_trials(storage, study) -> int:
    """Trials left RUNNING by a killed search are marked failed so they do not block the count."""
    import optuna

    stale = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for t in stale:
        storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL)
    return len(stale)


def run_worker(config: SearchConfig, worker: int = 0, threads: int | None = None,
               on_trial: Callable[[dict], None] | None = None, evaluator: Any = None) -> int:
    """Run trials until the study holds `config.trials` finished ones; returns how many this worker ran.

    `evaluator`: one already built from `config` (the main process's), saving the setup.
    """
    import optuna
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return _trial_loop(config, worker, evaluator or Evaluator.build(config), on_trial)
    finally:
        torch.set_num_threads(previous)  # the main process goes on to fine-tune with all its threads


def _surplus(study, number: int, wanted: int) -> bool:
    """Whether `wanted` trials numbered below `number` are already finished or running."""
    import optuna

    live = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING)
    return sum(t.number < number and t.state in live for t in study.get_trials(deepcopy=False)) >= wanted


def learner_sampler(learner: Any, keys: list[str], floors: list[float], seed: int):
    """An Optuna sampler that asks a history-driven learner (pso, evolution, random) for each new trial's
    whole vector. Optuna creates the trial atomically, so parallel workers never take the same one."""
    import optuna
    from optuna.distributions import FloatDistribution

    class LearnerSampler(optuna.samplers.BaseSampler):
        def __init__(self) -> None:
            self.space = {k: FloatDistribution(f, 1.0) for k, f in zip(keys, floors)}
            self.fallback = optuna.samplers.RandomSampler(seed=seed)
            self.attrs: dict[int, dict] = {}  # what the learner wants stored with each trial it proposed

        def infer_relative_search_space(self, study, trial):
            return self.space

        def sample_relative(self, study, trial, search_space):
            if not search_space:
                return {}
            rng = np.random.default_rng([seed, trial.number])
            vector, attrs = learner.propose(finished_trials(study), trial.number, rng)
            self.attrs[trial.number] = attrs
            return dict(zip(keys, vector))

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self.fallback.sample_independent(study, trial, param_name, param_distribution)

    return LearnerSampler()


def _trial_loop(config: SearchConfig, worker: int, evaluator: Any, on_trial: Callable[[dict], None] | None) -> int:
    import optuna

    floors = evaluator.space.floors
    keys = names(len(floors))
    learner = LEARNERS.get(config.sampler)(floors, config.seed + worker, **config.sampler_options)
    sampler = learner.optuna_sampler() if learner.uses_optuna_sampler else learner_sampler(learner, keys, floors,
                                                                                           config.seed)
    study = optuna.load_study(study_name=STUDY_NAME, storage=make_storage(config.storage), sampler=sampler)
    ran = 0
    while True:
        counts = count_states(study)
        if counts["complete"] + counts["running"] >= config.trials:
            return ran
        trial = study.ask()
        if _surplus(study, trial.number, config.trials):
            trial.set_user_attr("surplus", True)  # another worker asked at the same moment: the earlier numbers win
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return ran
        keep = [trial.suggest_float(k, f, 1.0) for k, f in zip(keys, floors)]
        result = evaluator.evaluate(keep, config.budget_policy)
        proposed_attrs = getattr(sampler, "attrs", {}).pop(trial.number, {})
        if "warm_start" not in trial.user_attrs:
            result = {**proposed_attrs, **result}
        try:
            for key, value in result.items():
                trial.set_user_attr(key, value)
            if result.get("rejected"):
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, result["objective"] - (0.0 if result["feasible"] else INFEASIBLE_PENALTY))
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # a queued (warm-start) trial another worker took at the same moment: its result stands
        ran += 1
        if on_trial is not None:
            on_trial(result)


def worker_process(config: SearchConfig, worker: int, threads: int, evaluator: Any = None) -> int:
    """Entry point of a worker process; `evaluator` only when forked (inherited, not pickled)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    return run_worker(config, worker, threads, evaluator=evaluator)


def default_storage(out: Path) -> str:
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"
