"""Learners that propose keep-ratio vectors, registered by name.

`tpe` and `gp` are Optuna's Bayesian samplers. `pso` (particle swarm) and `evolution` (MetaPruning-style)
propose from the finished trials stored in the study, so they hold no state of their own: a resumed or
parallel search continues them exactly from what the database holds. `random` is the control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from medprune.registry import Registry


@dataclass(frozen=True)
class Finished:
    """A finished trial as learners see it: the vector evaluated and its value (higher is better)."""

    number: int
    keep: list[float]
    value: float
    attrs: dict[str, Any]


class Learner:
    name: ClassVar[str]
    uses_optuna_sampler: ClassVar[bool] = False

    def __init__(self, floors: list[float], seed: int, **options: Any) -> None:
        self.floors = np.asarray(floors)
        self.seed = seed
        self.options = options

    def optuna_sampler(self):
        import optuna

        return optuna.samplers.RandomSampler(seed=self.seed)

    def propose(self, history: list[Finished], number: int, rng: np.random.Generator) -> tuple[list[float], dict]:
        """Next vector (and attributes to store with it) for trial `number`."""
        raise NotImplementedError

    def random_vector(self, rng: np.random.Generator) -> np.ndarray:
        return self.floors + (1 - self.floors) * rng.random(len(self.floors))

    def clip(self, vector: np.ndarray) -> np.ndarray:
        return np.clip(vector, self.floors, 1.0)


LEARNERS: Registry[type[Learner]] = Registry("sampler")


def register_learner(cls: type[Learner]) -> type[Learner]:
    return LEARNERS.register(cls.name)(cls)


@register_learner
class TPE(Learner):
    """Tree-structured Parzen estimator (Optuna)."""

    name = "tpe"
    uses_optuna_sampler = True

    def optuna_sampler(self):
        import optuna

        return optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=self.options.get("startup", 10),
                                          multivariate=True)


@register_learner
class GP(Learner):
    """Gaussian-process Bayesian optimisation (Optuna)."""

    name = "gp"
    uses_optuna_sampler = True

    def optuna_sampler(self):
        import optuna

        return optuna.samplers.GPSampler(seed=self.seed, n_startup_trials=self.options.get("startup", 10))


@register_learner
class RandomSearch(Learner):
    """Uniform random vectors: the control."""

    name = "random"

    def propose(self, history, number, rng):
        return self.random_vector(rng).tolist(), {}


@register_learner
class ParticleSwarm(Learner):
    """Particle swarm: particle `number % swarm` moves towards its own best and the swarm's best.

    v <- inertia * v + cognitive * r1 * (own best - x) + social * r2 * (swarm best - x), |v| <= max_velocity.
    """

    name = "pso"

    def propose(self, history, number, rng):
        o = {"swarm": 10, "inertia": 0.7, "cognitive": 1.5, "social": 1.5, "max_velocity": 0.2, **self.options}
        particle = number % o["swarm"]
        own = [h for h in history if h.attrs.get("particle") == particle]
        if not own or not history:
            return self.random_vector(rng).tolist(), {"particle": particle, "velocity": [0.0] * len(self.floors)}
        last = max(own, key=lambda h: h.number)
        x = np.asarray(last.keep)
        v = np.asarray(last.attrs.get("velocity", np.zeros(len(x))))
        own_best = np.asarray(max(own, key=lambda h: h.value).keep)
        swarm_best = np.asarray(max(history, key=lambda h: h.value).keep)
        r1, r2 = rng.random(len(x)), rng.random(len(x))
        v = o["inertia"] * v + o["cognitive"] * r1 * (own_best - x) + o["social"] * r2 * (swarm_best - x)
        v = np.clip(v, -o["max_velocity"], o["max_velocity"])
        return self.clip(x + v).tolist(), {"particle": particle, "velocity": v.tolist()}


@register_learner
class Evolution(Learner):
    """Evolutionary search (MetaPruning): the top-k finished vectors are parents; each child is a
    mutation (each gene redrawn with probability `mutation`) or a uniform crossover of two parents."""

    name = "evolution"

    def propose(self, history, number, rng):
        o = {"population": 12, "parents": 4, "mutation": 0.1, "crossover_share": 0.5, **self.options}
        if len(history) < o["population"]:
            return self.random_vector(rng).tolist(), {"origin": "initial"}
        parents = [np.asarray(h.keep) for h in sorted(history, key=lambda h: -h.value)[: o["parents"]]]
        if rng.random() < o["crossover_share"] and len(parents) > 1:
            a, b = rng.choice(len(parents), 2, replace=False)
            child = np.where(rng.random(len(self.floors)) < 0.5, parents[a], parents[b])
            return self.clip(child).tolist(), {"origin": "crossover"}
        child = parents[rng.integers(len(parents))].copy()
        redraw = rng.random(len(child)) < o["mutation"]
        if not redraw.any():
            redraw[rng.integers(len(child))] = True
        child[redraw] = self.random_vector(rng)[redraw]
        return self.clip(child).tolist(), {"origin": "mutation"}
