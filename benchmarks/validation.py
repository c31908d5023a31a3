"""The three verdicts on real data: a model against itself, against a pruned version, against a damaged one.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/validation.py --reference runs/bench/pneumonia-resnet18 \
        --pruned runs/prune-test [--out runs/validation-demo] [--smoke]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from medprune import api
from medprune.models import load_checkpoint, save_checkpoint
from medprune.validation import Protocol

from _smoke import tiny_runs, workdir


def damaged_copy(reference: Path, out: Path, noise: float = 1.0, seed: int = 0) -> Path:
    """The reference with Gaussian noise (noise x each tensor's std) added to every weight."""
    checkpoint = load_checkpoint(reference)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in checkpoint.model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * p.std().clamp(min=1e-4) * noise)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "model.pt", checkpoint.model, checkpoint.spec)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path)
    parser.add_argument("--pruned", type=Path)
    parser.add_argument("--margin", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=Path("runs/validation-demo"))
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.out = workdir(None, "validation")
        args.reference, args.pruned = tiny_runs(args.out)
    elif args.reference is None or args.pruned is None:
        parser.error("give --reference and --pruned (or --smoke)")
    damaged = damaged_copy(args.reference, args.out / "damaged")
    reference = api.load_model(args.reference)
    candidates = [api.load_model(p) for p in (args.reference, args.pruned, damaged)]
    dataset = api.load_data_for(reference)
    record = api.validate(reference, candidates, dataset, Protocol(metric="auroc", margin=args.margin), args.out)
    for label, c in zip(("itself", "pruned", "damaged"), record["candidates"]):
        print(f"{label:8s} {c['name']:28s} {c['verdict']:13s} DeLong p {c['delong_p']:.3g}")
        for name, e in c["endpoints"].items():
            print(f"         {name:12s} delta {e['delta']:+.4f} (95% CI {e['ci_low']:+.4f} to {e['ci_high']:+.4f}), "
                  f"margin {e['margin']:g}: {e['verdict']}")
        print(f"         why: {c['verdict_reason']}")
    print(f"report: {args.out / 'report.html'}")


if __name__ == "__main__":
    main()
