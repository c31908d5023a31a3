"""How often does `validate` say "non-inferior" when the candidate is exactly `margin` worse, and how often when
it is as good as its reference?

At true delta = -margin the null hypothesis holds at its boundary, so the rate of "non-inferior" is
the test's type-I error; it should be alpha / 2 (2.5% for 95% intervals). At true delta = 0 the rate is the
power. For each endpoint and each number of test cases per class, simulate paired test sets with that true
difference, run the same endpoint computation and decision rule `validate` runs, and count the verdicts.

- AUROC: binormal scores, reference AUROC 0.85 to 0.99, candidate one margin (0.01) lower, correlation rho
  between the two models' scores (a pruned model ranks cases much like its reference).
- robustness: the same, under five severities of one corruption (the reference's AUROC falls by 0.02 a
  severity; each severity adds noise shared by both models), judged as `validate` does on the severity-averaged
  AUROC delta and the delta at severity 5 together (both must be non-inferior).
- sensitivity / specificity: paired hits at a fixed threshold, reference 0.90 / 0.80, candidate
  0.85 / 0.75 (margin 0.05), with the discordant shares a pruned model typically has.
- segmentation (n = test cases): seg-dice, per-case paired Dice differences with mean -0.02 (the margin) and a
  skewed spread (most cases lose little, a few lose much: centred gamma, SD 0.03); seg-hd95, paired HD95
  differences with median +1 mm (the endpoint judges the median) and a heavy right tail (log-normal, SD about
  1.5 mm); seg-safety, each case
  falls by more than 0.10 Dice with probability 0.05 (the margin). Power rows: mean 0 / no falls beyond 0.01.

Below the minimum number of cases per class `validate` never answers "non-inferior"; the rows marked "below
minimum" show what the raw intervals would do there, which is why the minimum exists.

    MEDPRUNE_DATA is not needed; run: .venv/bin/python benchmarks/validation_size.py [--simulations 2000]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy import stats

from medprune.evaluation.paired_proportions import compute_paired_proportion_difference, tango_statistic
from medprune.validation.endpoints import compute_auroc_difference, compute_endpoint, endpoint_verdict
from medprune.validation.noninferiority import MIN_CASES_PER_CLASS, decide, too_few_cases
from medprune.validation.paired_metrics import Predictions
from medprune.validation.robustness import corruption_verdict
from medprune.evaluation.segmentation import CaseMetrics
from medprune.validation.segmentation import MIN_SEGMENTATION_CASES, SegmentationMargins, segmentation_endpoints

ALPHA = 0.05
MARGINS = {"auroc": 0.01, "robustness": 0.01, "sensitivity": 0.05, "specificity": 0.05, "seg-dice": 0.02,
           "seg-hd95": 1.0, "seg-safety": 0.05}
SEGMENTATION = {"seg-dice": "dice:s", "seg-hd95": "hd95:s", "seg-safety": "safety"}
# (correlation of the two models' scores, reference AUROC): a pruned model ranks cases much like its reference
# (rho 0.95); 0.97-0.99 is a typical chest X-ray model, where both models often separate a small sample perfectly.
AUROC_SCENARIOS = tuple((rho, auroc) for rho in (0.8, 0.95) for auroc in (0.85, 0.95, 0.97, 0.99))
ROBUSTNESS_SCENARIOS = tuple((0.95, auroc) for auroc in (0.85, 0.97, 0.99))
SEVERITY_STEP = 0.02  # the reference's AUROC falls by this much per severity
# Joint probabilities of (reference hit, candidate hit): both, reference only, candidate only, neither.
PAIRED_HITS = {"sensitivity": (0.83, 0.07, 0.02, 0.08), "specificity": (0.72, 0.08, 0.03, 0.17)}


def _binormal(y: np.ndarray, rho: float, auroc: float, delta: float, shared: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Reference and candidate probabilities with AUROC `auroc` and `auroc + delta` and score correlation rho
    within each class; `shared` (variance at most 1) is noise both models see, such as one corruption of the same
    images."""
    own = np.sqrt(max(0.0, 1 - np.var(shared)))  # a small sample's variance can pass 1: no negative root
    ref = shared + own * rng.normal(size=len(y)) if shared.any() else rng.normal(size=len(y))
    cand = rho * ref + np.sqrt(1 - rho ** 2) * rng.normal(size=len(y))
    ref = ref + (y == 1) * np.sqrt(2) * stats.norm.ppf(auroc)
    cand = cand + (y == 1) * np.sqrt(2) * stats.norm.ppf(auroc + delta)
    return 1 / (1 + np.exp(-ref)), 1 / (1 + np.exp(-cand))


def _hits_case(endpoint: str, n: int, cells: tuple[float, ...], rng: np.random.Generator):
    """Positives (sensitivity) or negatives (specificity) with paired hits; the other class all correct."""
    drawn = rng.choice(4, size=n, p=cells)
    ref_hit, cand_hit = np.isin(drawn, (0, 1)), np.isin(drawn, (0, 2))
    judged = 1 if endpoint == "sensitivity" else 0
    y = np.concatenate([np.full(n, judged), np.full(n, 1 - judged)])

    def probs(hit):
        correct = np.concatenate([hit, np.ones(n, bool)])
        return np.where(correct == (y == 1), 0.9, 0.1)

    return y, probs(ref_hit), probs(cand_hit)


def _equal_hits(endpoint: str) -> tuple[float, ...]:
    """The power design: the same discordant share, split evenly (both models equally good)."""
    both, ref_only, cand_only, neither = PAIRED_HITS[endpoint]
    return both, (ref_only + cand_only) / 2, (ref_only + cand_only) / 2, neither


def _robustness_verdict(n: int, rho: float, auroc: float, delta: float, rng: np.random.Generator) -> str:
    y = np.repeat([0, 1], n)
    refs, cands = [], []
    for severity in range(1, 6):
        shared = rng.normal(size=len(y)) * np.sqrt(0.5)  # the same corrupted image is seen by both models
        ref, cand = _binormal(y, rho, auroc - SEVERITY_STEP * severity, delta, shared, rng)
        refs.append(ref)
        cands.append(cand)
    margin = MARGINS["robustness"]
    low, high, _ = compute_auroc_difference(y, refs, cands, margin, ALPHA)
    average = endpoint_verdict(low, high, margin)
    low, high, _ = compute_auroc_difference(y, refs[-1], cands[-1], margin, ALPHA)
    worst = endpoint_verdict(low, high, margin)
    return corruption_verdict(*average, *worst, 5)[0]


def _segmentation_verdict(endpoint: str, n: int, null: bool, minimum: int, rng: np.random.Generator) -> str:
    """One simulated paired test set of n cases, judged on one segmentation endpoint by the decision rule."""
    ref_dice = np.clip(1 - rng.gamma(2.0, 0.05, n), 0, 1)
    ref_hd = 1.0 + rng.lognormal(0.0, 0.6, n)
    dice, hd = ref_dice.copy(), ref_hd.copy()
    if endpoint == "seg-dice":
        loss = rng.gamma(0.5, 0.03 / np.sqrt(0.5), n)  # skewed, SD 0.03
        dice = ref_dice - (loss - 0.03 * np.sqrt(0.5)) - (0.02 if null else 0.0)  # centred, then shifted
    elif endpoint == "seg-hd95":
        tail = rng.lognormal(0.0, 1.0, n)
        hd = ref_hd + (tail - 1.0) * 0.7 + (1.0 if null else 0.0)  # median change 0 (+1 mm), SD about 1.5 mm
    else:
        falls = rng.random(n) < (0.05 if null else 0.01)
        dice = ref_dice - np.where(falls, 0.2, 0.0)
    zeros = np.zeros((n, 1))
    ref = CaseMetrics(["s"], ref_dice[:, None], ref_hd[:, None], zeros, zeros, zeros)
    cand = CaseMetrics(["s"], dice[:, None], hd[:, None], zeros, zeros, zeros)
    name = SEGMENTATION[endpoint]
    result = segmentation_endpoints(ref, cand, margins=SegmentationMargins(), alpha=ALPHA, n_resamples=1000,
                                    seed=int(rng.integers(1 << 30)))[name]
    too_few = "below the minimum" if n < minimum else ""
    return decide([{name: result}], primary=name, alpha=ALPHA, too_few=too_few)[0].verdict


def _one(args) -> str:
    endpoint, n, (rho, auroc), null, seed, minimum = args
    rng = np.random.default_rng(seed)
    if endpoint in SEGMENTATION:
        return _segmentation_verdict(endpoint, n, null, minimum, rng)
    delta = -MARGINS[endpoint] if null else 0.0
    if endpoint == "robustness":
        return _robustness_verdict(n, rho, auroc, delta, rng)
    if endpoint == "auroc":
        y = np.repeat([0, 1], n)
        ref, cand = _binormal(y, rho, auroc, delta, np.zeros(len(y)), rng)
    else:
        y, ref, cand = _hits_case(endpoint, n, PAIRED_HITS[endpoint] if null else _equal_hits(endpoint), rng)
    wrap = lambda p: Predictions(np.column_stack([1 - p, p]), 0.5)  # noqa: E731
    ones = np.ones((1, len(y)), np.float32)  # binary AUROC and the proportions need no bootstrap
    result = compute_endpoint(endpoint, y, wrap(ref), wrap(cand), ones, margin=MARGINS[endpoint], alpha=ALPHA)
    return decide([{endpoint: result}], primary=endpoint, alpha=ALPHA,
                  too_few=too_few_cases(y, ["0", "1"], minimum))[0].verdict


def rate(endpoint: str, n: int, scenario: tuple[float, float], null: bool, simulations: int, minimum: int,
         pool: ProcessPoolExecutor) -> float:
    """Share of 'non-inferior' verdicts at true delta -margin (null) or 0 (power)."""
    jobs = [(endpoint, n, scenario, null, 1000 * n + seed, minimum) for seed in range(simulations)]
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
    parser.add_argument("--sizes", default="20,30,60,100,200,400", help="test cases per class")
    parser.add_argument("--endpoints", default="auroc,robustness,sensitivity,specificity,seg-dice,seg-hd95,seg-safety")
    parser.add_argument("--segmentation-sizes", default="20,40,80", help="test cases (segmentation endpoints)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.simulations, args.sizes, args.segmentation_sizes = 20, "30", "20"
    sizes = [int(s) for s in args.sizes.split(",")]
    se = np.sqrt(ALPHA / 2 * (1 - ALPHA / 2) / args.simulations)
    print(f"'rate': share of 'non-inferior' at true delta = -margin, nominal {ALPHA / 2:.3f} (alpha {ALPHA}, one-sided "
          f"{ALPHA / 2}); 'power': the same share at true delta = 0; {args.simulations} simulations per row (Monte "
          f"Carlo s.e. of the rate {se:.4f}); n: cases per class (classification, minimum {MIN_CASES_PER_CLASS}) or test "
          f"cases (segmentation, minimum {MIN_SEGMENTATION_CASES})")
    print(f"{'endpoint':<12} {'margin':>6} {'AUROC/rho':>10} {'n':>7} {'rate':>7} {'power':>7} {'raw rate':>8}  note")
    scenarios = {"auroc": AUROC_SCENARIOS, "robustness": ROBUSTNESS_SCENARIOS}
    began = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        for endpoint in args.endpoints.split(","):
            segmentation = endpoint in SEGMENTATION
            minimum = MIN_SEGMENTATION_CASES if segmentation else MIN_CASES_PER_CLASS
            for scenario in scenarios.get(endpoint, ((0.0, 0.0),)):
                for n in [int(s) for s in args.segmentation_sizes.split(",")] if segmentation else sizes:
                    below = n < minimum and endpoint != "robustness"
                    judged = rate(endpoint, n, scenario, True, args.simulations, minimum, pool)
                    power = rate(endpoint, n, scenario, False, args.simulations, minimum, pool)
                    raw = rate(endpoint, n, scenario, True, args.simulations, 1, pool) if below else judged
                    note = "below minimum: never 'non-inferior' by rule" if below else ""
                    if endpoint == "seg-safety" and not below:
                        note = _discreteness_note(n, MARGINS[endpoint])
                    if endpoint in PAIRED_HITS and not below:
                        best = attainable_rate(endpoint, n, MARGINS[endpoint])
                        note = f"best valid test (exact) reaches {best:.4f} here. {_discreteness_note(n, MARGINS[endpoint])}"
                    scores = f"{scenario[1]:.2f}/{scenario[0]}" if endpoint in scenarios else "paired"
                    print(f"{endpoint:<12} {MARGINS[endpoint]:>6} {scores:>10} {n:>7} {judged:>7.4f} {power:>7.3f} "
                          f"{raw:>8.4f}  {note}", flush=True)
    print(f"wall time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
