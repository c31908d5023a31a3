"""Time of the vectorised paired bootstrap: 2000 stratified resamples of the AUROC difference on 10,000 cases.

    .venv/bin/python benchmarks/bootstrap.py [--cases 10000] [--resamples 2000] [--smoke]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from medprune.evaluation.bootstrap import percentile_ci, stratified_counts, weighted_auroc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.cases, args.resamples, args.repeats = 400, 200, 1
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, args.cases)
    reference, candidate = y + rng.normal(size=args.cases), 0.95 * y + rng.normal(size=args.cases)
    times = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        counts = stratified_counts(y, args.resamples, seed=repeat)
        deltas = weighted_auroc(y == 1, candidate, counts) - weighted_auroc(y == 1, reference, counts)
        low, high = percentile_ci(deltas, 0.05)
        times.append(time.perf_counter() - start)
    print(f"paired AUROC bootstrap: {args.resamples} resamples x {args.cases} cases: "
          f"median {np.median(times):.2f} s over {args.repeats} runs (min {min(times):.2f} s); "
          f"delta CI {low:+.4f} to {high:+.4f}")


if __name__ == "__main__":
    main()
