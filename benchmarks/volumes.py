"""3D volumes: a dense 3D ResNet-18 on AdrenalMNIST3D against its pruned, distilled and int8 versions.

Runs `medprune compare examples/adrenal3d.yaml` (every technique, the same fine-tuning budget, measured side
by side in one run: latency interleaved in PyTorch and ONNX Runtime) and prints the rows the volume issue
asks for: test AUROC with its CI, sensitivity / specificity at the reference threshold, latency at batch 1
and 8 in PyTorch and ONNX Runtime, gzip size, the speed-up at batch 8 over the dense model in PyTorch, and
the non-inferiority verdict (all co-primary endpoints). It also says whether ONNX Runtime runs the int8 3D
convolutions faster than fp32.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/volumes.py [--reference RUN_DIR] [--out DIR]
        [--data adrenalmnist3d@64] [--smoke]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from medprune import api
from medprune.comparison import load_recipe
from medprune.comparison.recipe import Reference, ReferenceTraining

from _smoke import synthetic_npz, workdir

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "adrenal3d.yaml"


def _ms(row: dict, runtime: str, batch: int) -> str:
    value = (row["latency_ms"].get(runtime) or {}).get(f"batch{batch}")
    return f"{value:8.2f}" if value else f"{'—':>8}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, help="a trained 3D run directory (default: train the recipe's)")
    parser.add_argument("--out", type=Path, default=Path("runs/compare/adrenal3d"))
    parser.add_argument("--data", help="another 3D dataset, e.g. adrenalmnist3d@64")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    recipe = load_recipe(RECIPE)
    changes = {}
    if args.reference is not None:
        changes["reference"] = recipe.reference.model_copy(update={"path": str(args.reference), "train": None})
    if args.data:
        changes["data"] = args.data
    if args.smoke:  # tiny synthetic volumes, a small model, two techniques
        root = workdir(None, "volumes")
        args.out = root / "compare"
        changes = {"data": str(synthetic_npz(root / "smoke3d.npz", size=12, counts=(80, 40, 40), dims=3)),
                   "reference": Reference(train=ReferenceTraining(model="smallcnn", epochs=2, batch_size=16)),
                   "budget": recipe.budget.replace(epochs=1, batch_size=16),
                   "measure": recipe.measure.model_copy(update={"latency_repeats": 3}),
                   "techniques": [t for t in recipe.techniques if t.label in ("int8-static", "magnitude-0.5-kd")]}
    recipe = recipe.model_copy(update=changes)
    began = time.perf_counter()
    record = api.compare(recipe, args.out, resume=args.resume, progress=False)
    rows = record["rows"]
    dense_b8 = rows[0]["latency_ms"]["pytorch"]["batch8"]
    print(f"{record['data']['name']}: {record['data']['n']['test']} test volumes, threshold {record['threshold']:.4f}; "
          f"wall time {time.perf_counter() - began:.0f} s; latency ms (median, interleaved)")
    print(f"{'row':<20} {'AUROC (95% CI)':<24} {'sens':>5} {'spec':>5} {'PT b1':>8} {'PT b8':>8} {'ORT b1':>8} "
          f"{'ORT b8':>8} {'gzip MB':>8} {'b8 speed-up':>11}  verdict")
    for row in rows:
        fastest_b8 = min(t["batch8"] for t in row["latency_ms"].values() if t)
        ci = row["auroc_ci"]
        verdict = row.get("verdict", "reference")
        failed = row.get("failed_endpoints") or []
        print(f"{row['name']:<20} {row['auroc']:.4f} ({ci[0]:.4f}-{ci[1]:.4f})  {row['sensitivity']:5.3f} "
              f"{row['specificity']:5.3f} {_ms(row, 'pytorch', 1)} {_ms(row, 'pytorch', 8)} "
              f"{_ms(row, 'onnxruntime', 1)} {_ms(row, 'onnxruntime', 8)} {row['size_gzip_bytes'] / 1e6:8.2f} "
              f"{dense_b8 / fastest_b8:10.1f}x  {verdict}{' (' + ', '.join(failed) + ')' if failed else ''}")
    ort = {row["name"]: row["latency_ms"]["onnxruntime"] for row in rows}
    if "int8-static" in ort:
        fp32, int8 = ort["reference"], ort["int8-static"]
        print(f"ONNX Runtime, dense model, batch 8: fp32 {fp32['batch8']:.2f} ms vs int8 static {int8['batch8']:.2f} ms "
              f"({fp32['batch8'] / int8['batch8']:.2f}x): int8 3D convolutions are "
              f"{'faster' if int8['batch8'] < fp32['batch8'] else 'not faster'} here")


if __name__ == "__main__":
    main()
