"""Learners: proposals stay within the floors; the swarm moves towards its best; evolution breeds parents."""

import numpy as np

from medprune.search.learners import LEARNERS, Finished

FLOORS = [0.1, 0.2, 0.3]


def test_registered_learners():
    assert set(LEARNERS.names()) == {"tpe", "gp", "pso", "evolution", "random"}


def test_random_and_initial_proposals_respect_the_floors():
    rng = np.random.default_rng(0)
    for name in ("random", "pso", "evolution"):
        learner = LEARNERS.get(name)(FLOORS, seed=0)
        for n in range(20):
            keep, _ = learner.propose([], n, rng)
            assert all(f <= k <= 1 for k, f in zip(keep, FLOORS))


def test_a_particle_moves_towards_the_best_with_clipped_velocity():
    learner = LEARNERS.get("pso")(FLOORS, seed=0, swarm=2, max_velocity=0.05)
    history = [Finished(0, [0.5, 0.5, 0.5], 0.1, {"particle": 0, "velocity": [0, 0, 0]}),
               Finished(1, [0.9, 0.9, 0.9], 0.9, {"particle": 1, "velocity": [0, 0, 0]})]
    keep, attrs = learner.propose(history, 2, np.random.default_rng(1))  # particle 0 again
    assert attrs["particle"] == 0
    assert all(0.5 <= k <= 0.55 + 1e-12 for k in keep) and max(np.abs(attrs["velocity"])) <= 0.05


def test_evolution_children_come_from_the_best_parents():
    learner = LEARNERS.get("evolution")(FLOORS, seed=0, population=4, parents=2, mutation=0.0)
    history = [Finished(i, [v, v, v], v, {}) for i, v in enumerate([0.4, 0.5, 0.8, 0.9])]
    rng = np.random.default_rng(0)
    for n in range(4, 20):
        keep, attrs = learner.propose(history, n, rng)
        if attrs["origin"] == "crossover":
            assert all(k in (0.8, 0.9) for k in keep)
        else:  # one gene redrawn, the others from a top parent
            assert sum(k in (0.8, 0.9) for k in keep) >= 2
