"""How often does `validate` say "non-inferior" when the candidate is exactly `margin` worse?

At true delta = -margin the null hypothesis holds at its boundary, so the rate of "non-inferior" is
the test's type-I error; it should be alpha / 2 (2.5% for 95% intervals). For each endpoint and each
number of test cases per class, simulate paired test sets with that true difference, run the same
endpoint computation and decision rule `validate` runs, and count the verdicts.

- AUROC: binormal scores, reference AUROC 0.85 or 0.98, candidate 0.01 lower (the margin), correlation rho
  between the two models' scores (a pruned model ranks cases much like its reference).
- sensitivity / specificity: paired hits at a fixed threshold, reference 0.90 / 0.80, candidate
  0.85 / 0.75 (margin 0.05), with the discordant shares a pruned model typically has.

Below the minimum number of cases per class `validate` answers "inconclusive" whatever the data; the rows
marked "below minimum" show what the raw intervals would do there, which is why the minimum exists.

    MEDPRUNE_DATA is not needed; run: .venv/bin/python benchmarks/validation_size.py [--simulations 2000]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy import stats

from medprune.evaluation.bootstrap import stratified_counts
from medprune.evaluation.paired_proportions import compute_paired_proportion_difference, tango_statistic
from medprune.validation.endpoints import compute_endpoint
from medprune.validation.noninferiority import MIN_CASES_PER_CLASS, decide, too_few_cases
from medprune.validation.paired_metrics import Predictions

ALPHA = 0.05
MARGINS = {"auroc": 0.01, "sensitivity": 0.05, "specificity": 0.05}
# Joint probabilities of (reference hit, candidate hit): both, reference only, candidate only, neither.
# (correlation of the two models' scores, reference AUROC): a pruned model ranks cases much like its
# reference; 0.98 is a typical chest X-ray model, where both models often separate a small sample perfectly.
AUROC_SCENARIOS = ((0.8, 0.85), (0.95, 0.85), (0.95, 0.98))
PAIRED_HITS = {"sensitivity": (0.83, 0.07, 0.02, 0.08), "specificity": (0.72, 0.08, 0.03, 0.17)}


def _auroc_case(n: int, rho: float, auroc: float, rng: np.random.Generator):
    mu_ref = np.sqrt(2) * stats.norm.ppf(auroc)
    mu_cand = np.sqrt(2) * stats.norm.ppf(auroc - MARGINS["auroc"])
    y = np.repeat([0, 1], n)
    ref = rng.normal(size=2 * n)
    cand = rho * ref + np.sqrt(1 - rho ** 2) * rng.normal(size=2 * n)
    ref[y == 1] += mu_ref
    cand[y == 1] += mu_cand
    return y, 1 / (1 + np.exp(-ref)), 1 / (1 + np.exp(-cand))


def _hits_case(endpoint: str, n: int, rng: np.random.Generator):
    """Positives (sensitivity) or negatives (specificity) with paired hits; the other class all correct."""
    cells = rng.choice(4, size=n, p=PAIRED_HITS[endpoint])
    ref_hit, cand_hit = np.isin(cells, (0, 1)), np.isin(cells, (0, 2))
    judged = 1 if endpoint == "sensitivity" else 0
    y = np.concatenate([np.full(n, judged), np.full(n, 1 - judged)])

    def probs(hit):
        correct = np.concatenate([hit, np.ones(n, bool)])
        return np.where(correct == (y == 1), 0.9, 0.1)

    return y, probs(ref_hit), probs(cand_hit)


def _one(args) -> str:
    endpoint, n, (rho, auroc), seed, minimum = args
    rng = np.random.default_rng(seed)
    y, ref, cand = _auroc_case(n, rho, auroc, rng) if endpoint == "auroc" else _hits_case(endpoint, n, rng)
    wrap = lambda p: Predictions(np.column_stack([1 - p, p]), 0.5)  # noqa: E731
    counts = stratified_counts(y, 2000, seed) if endpoint == "auroc" else np.ones((1, len(y)), np.float32)
    result = compute_endpoint(endpoint, y, wrap(ref), wrap(cand), counts, margin=MARGINS[endpoint], alpha=ALPHA)
    return decide([{endpoint: result}], primary=endpoint, alpha=ALPHA,
                  too_few=too_few_cases(y, ["0", "1"], minimum))[0].verdict


def rate(endpoint: str, n: int, scenario: tuple[float, float], simulations: int, minimum: int,
         pool: ProcessPoolExecutor) -> float:
    jobs = [(endpoint, n, scenario, 1000 * n + seed, minimum) for seed in range(simulations)]
    verdicts = list(pool.map(_one, jobs, chunksize=25))
    return verdicts.count("non-inferior") / simulations


def _discreteness_note(n: int, margin: float) -> str:
    """Why a paired proportion can sit below nominal at small n: the counts are discrete."""
    same = np.ones(n, bool)
    low = compute_paired_proportion_difference(same, same, ALPHA).ci_low
    if low < -margin:
        return (f"discrete: a candidate that never disagrees with the reference still gets a lower bound of {low:+.3f} "
                f"at n={n}, so only candidates right on more cases pass; the rate may sit below nominal")
    return ""


def attainable_rate(endpoint: str, n: int, margin: float) -> float:
    """The rate the best valid test ordered by Tango's statistic reaches in this design, computed exactly.

    Enumerate every outcome (candidate-only b, reference-only c) of n paired cases, find the smallest
    critical value whose rejection region keeps its level alpha/2 for every nuisance value on the null
    boundary (q_c - q_b = margin), and return that region's probability under the simulated design.
    A simulated rate below nominal but close to this is discreteness, not a loose interval.
    """
    b, c = (a.ravel() for a in np.meshgrid(np.arange(n + 1), np.arange(n + 1)))
    b, c = b[b + c <= n], c[b + c <= n]
    z = np.array([tango_statistic(-margin, int(i), int(j), n) for i, j in zip(b, c)])

    def pmf(q_b: float, q_c: float) -> np.ndarray:
        return stats.multinomial.pmf(np.column_stack([b, c, n - b - c]), n, [q_b, q_c, 1 - q_b - q_c])

    boundary = [pmf(q, q + margin) for q in np.linspace(0, (1 - margin) / 2, 100)]
    _, reference_only, candidate_only, _ = PAIRED_HITS[endpoint]
    attained = 0.0
    for critical in np.unique(z)[::-1]:  # widen the region while it keeps its level
        region = z >= critical
        if max(p[region].sum() for p in boundary) > ALPHA / 2:
            break
        attained = float(pmf(candidate_only, reference_only)[region].sum())
    return attained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=2000)
    parser.add_argument("--sizes", default="10,20,30,60,300", help="test cases per class")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    se = np.sqrt(ALPHA / 2 * (1 - ALPHA / 2) / args.simulations)
    print(f"rate of 'non-inferior' at true delta = -margin; nominal {ALPHA / 2:.3f} (alpha {ALPHA}, one-sided "
          f"{ALPHA / 2}); {args.simulations} simulations per row (Monte Carlo s.e. {se:.4f}); minimum "
          f"{MIN_CASES_PER_CLASS} cases per class")
    print(f"{'endpoint':<12} {'margin':>6} {'AUROC/rho':>10} {'n/class':>7} {'rate':>7} {'nominal':>7} "
          f"{'raw rate':>8}  note")
    began = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        for endpoint in ("auroc", "sensitivity", "specificity"):
            for scenario in (AUROC_SCENARIOS if endpoint == "auroc" else ((0.0, 0.0),)):
                for n in sizes:
                    below = n < MIN_CASES_PER_CLASS
                    judged = rate(endpoint, n, scenario, args.simulations, MIN_CASES_PER_CLASS, pool)
                    raw = rate(endpoint, n, scenario, args.simulations, 1, pool) if below else judged
                    note = "below minimum: verdict is 'inconclusive' by rule" if below else ""
                    if endpoint != "auroc" and not below:
                        best = attainable_rate(endpoint, n, MARGINS[endpoint])
                        note = f"best valid test (exact) reaches {best:.4f} here. {_discreteness_note(n, MARGINS[endpoint])}"
                    scores = f"{scenario[1]:.2f}/{scenario[0]}" if endpoint == "auroc" else "paired"
                    print(f"{endpoint:<12} {MARGINS[endpoint]:>6} {scores:>10} {n:>7} {judged:>7.4f} "
                          f"{ALPHA / 2:>7.3f} {raw:>8.4f}  {note}", flush=True)
    print(f"wall time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
