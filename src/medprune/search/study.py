"""The study: trials stored in an Optuna database (SQLite by default), run by one or more workers.

Every worker loads the dense model and data itself, builds the same search space (seeded), and loops:
ask the learner for a vector, repair it into the budget, materialise and score it, tell the study.
A finished trial is in the database before the next starts, so a killed search loses at most the
trials that were running; `--resume` marks those failed and continues.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from medprune.errors import ConfigError
from medprune.search.learners import LEARNERS, Finished

STUDY_NAME = "medprune-search"
INFEASIBLE_PENALTY = 1.0  # a constraint-violating candidate scores below every feasible one


@dataclass(frozen=True)
class SearchConfig:
    """Everything a worker needs, as plain values (it crosses process and Ray boundaries)."""

    model: str
    storage: str
    data: str | None = None
    data_dir: str | None = None
    criterion: str = "taylor"
    target: str = "macs=0.25"
    sampler: str = "tpe"
    trials: int = 60
    objective: str = "auroc"
    require: tuple[str, ...] = ()
    max_layer_ratio: float = 0.9
    calibration_batches: int = 4
    bn_batches: int = 8
    batch_size: int = 64
    budget_policy: str = "repair"
    seed: int = 0
    sampler_options: dict[str, Any] = field(default_factory=dict)
    latency_table: str | None = None  # JSON cache of per-layer latencies (latency targets)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

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


def finished_trials(study) -> list[Finished]:
    import optuna

    return [Finished(t.number, list(t.user_attrs["keep"]), float(t.value), dict(t.user_attrs))
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]


def count_states(study) -> dict[str, int]:
    import optuna

    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
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
               on_trial: Callable[[dict], None] | None = None) -> int:
    """Run trials until the study holds `config.trials` finished ones; returns how many this worker ran."""
    import optuna
    import torch

    from medprune.search.evaluator import Evaluator

    if threads:
        torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    evaluator = Evaluator.build(config)
    learner = LEARNERS.get(config.sampler)(evaluator.space.floors, config.seed + worker, **config.sampler_options)
    storage = make_storage(config.storage)
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage, sampler=learner.optuna_sampler())
    keys = names(len(evaluator.space.floors))
    ran = 0
    while True:
        counts = count_states(study)
        if counts["complete"] + counts["running"] >= config.trials:
            return ran
        if not learner.uses_optuna_sampler:
            number = len(study.get_trials(deepcopy=False))
            rng = np.random.default_rng([config.seed, number, worker])
            vector, attrs = learner.propose(finished_trials(study), number, rng)
            study.enqueue_trial(dict(zip(keys, vector)), user_attrs=attrs, skip_if_exists=False)
        trial = study.ask()
        keep = [trial.suggest_float(k, f, 1.0) for k, f in zip(keys, evaluator.space.floors)]
        result = evaluator.evaluate(keep, config.budget_policy)
        for key, value in result.items():
            trial.set_user_attr(key, value)
        if result.get("rejected"):
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            penalty = 0.0 if result["feasible"] else INFEASIBLE_PENALTY
            study.tell(trial, result["objective"] - penalty)
        ran += 1
        if on_trial is not None:
            on_trial(result)


def worker_process(config: SearchConfig, worker: int, threads: int) -> int:
    """Entry point of a worker process (spawned, so it shares nothing with the parent)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    return run_worker(config, worker, threads)


def default_storage(out: Path) -> str:
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"
