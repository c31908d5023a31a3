"""Dense against pruned (each criterion, and Torch-Pruning's own magnitude pruner at the same budget) against int8
(ONNX Runtime and OpenVINO) for a trained segmentation model, in one run: mean Dice and HD95 per structure, latency
per volume (whole case, sliding windows, batch 1, all models timed interleaved so machine noise hits every row
alike), file size, and each candidate's verdict against the dense model.

    MEDPRUNE_DATA=../shared/data .venv/bin/python benchmarks/segmentation.py --dense runs/hippocampus-unet
        [--criteria taylor magnitude] [--target macs=0.25] [--finetune-epochs 10] [--out runs/bench-segmentation]
        [--smoke]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path
from unittest import mock

import torch

from medprune import api
from medprune.models import Checkpoint, save_checkpoint
from medprune.pruning.groups import classifier_layers, measured_graph_type
from medprune.segmentation.run import inference_of
from medprune.training.segmentation import VoxelDistillation, fit_segmentation, predict_logits

from _smoke import synthetic_decathlon, workdir


def torch_pruning_anchor(dense: Checkpoint, dataset, out: Path, macs: float, epochs: int) -> tuple[Path, str]:
    """Torch-Pruning's MetaPruner with MagnitudeImportance (its defaults), pruning ratio bisected to the budget,
    fine-tuned with the same loss, distillation and epochs as the medprune rows. When Torch-Pruning cannot build
    its graph of the network (MONAI's UNet: a TypeError in its concatenation index mapping), it runs with
    medprune's measured concatenation widths, and the note says so."""
    import torch_pruning as tp

    example = torch.zeros(1, *dense.input_shape)
    note = "Torch-Pruning as is"
    try:
        tp.DependencyGraph().build_dependency(copy.deepcopy(dense.model), example_inputs=example)
    except Exception as err:  # its own failure is the figure this row reports
        note = f"Torch-Pruning alone fails ({type(err).__name__}: {str(err)[:60]}); run with measured concat widths"
    with mock.patch.object(tp.dependency, "DependencyGraph", measured_graph_type()):
        return _anchor(dense, dataset, out, macs, epochs, example), note


def _anchor(dense: Checkpoint, dataset, out: Path, macs: float, epochs: int, example: torch.Tensor) -> Path:
    import torch_pruning as tp

    dense_macs, _ = tp.utils.count_ops_and_params(dense.model, example)
    low, high, best = 0.0, 0.95, None
    for _ in range(8):
        ratio = (low + high) / 2
        model = copy.deepcopy(dense.model)
        pruner = tp.pruner.MetaPruner(model, example, importance=tp.importance.MagnitudeImportance(p=1),
                                      pruning_ratio=ratio, ignored_layers=classifier_layers(model, dataset.n_classes,
                                                                                            example))
        pruner.step()
        macs_now, _ = tp.utils.count_ops_and_params(model, example)
        if macs_now / dense_macs <= macs:
            best, high = model, ratio
        else:
            low = ratio
    if epochs:
        fit_segmentation(best, dataset, api.TrainConfig(epochs=epochs, lr=1e-3, patience=0), progress=False,
                         inference=inference_of(dense), distill=VoxelDistillation(dense.model), keep_start=True)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "model.pt", best, dense.spec.for_new_weights(pruning={"anchor": "torch-pruning magnitude"}))
    return out


def latency_per_volume(models: dict[str, Checkpoint], dataset, repeats: int, rounds: int = 3) -> dict[str, float]:
    """Median ms per whole test case (the model's own sliding windows), timed in alternating blocks."""
    case = torch.from_numpy(dataset.split("test").x[:1])
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for name, m in models.items():
            predict_logits(m.model, case, inference_of(m))  # warm-up
        for _ in range(rounds):
            for name, m in models.items():
                for _ in range(repeats):
                    start = time.perf_counter()
                    predict_logits(m.model, case, inference_of(m))
                    times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dense", type=Path, help="run directory of a trained segmentation model")
    parser.add_argument("--criteria", nargs="+", default=["taylor", "magnitude", "bn_scale"])
    parser.add_argument("--target", default="macs=0.25")
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-segmentation"))
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.out = workdir(None, "segmentation")
        data = api.load_data(str(synthetic_decathlon(args.out / "cubes")))
        api.train(data, "unet", api.TrainConfig(epochs=2, lr=0.01), args.out / "dense", progress=False,
                  latency_repeats=1)
        args.dense, args.criteria, args.finetune_epochs, args.repeats = args.out / "dense", ["magnitude"], 1, 1
    began = time.perf_counter()
    dense = api.load_model(args.dense)
    dataset = api.load_data_for(dense)
    macs = float(args.target.split("=")[1])
    candidates: dict[str, Path] = {}
    for criterion in args.criteria:
        out = args.out / f"pruned-{criterion}"
        settings = api.PruneSettings(criterion=criterion, target=args.target, structured=True, distill=True,
                                     finetune_epochs=args.finetune_epochs)
        api.prune(dense, dataset, settings, out, progress=False, overwrite=True, latency_repeats=1)
        candidates[f"pruned {criterion}"] = out
        print(f"pruned with {criterion}: {time.perf_counter() - began:.0f} s", flush=True)
    candidates["torch-pruning magnitude"], anchor_note = torch_pruning_anchor(
        dense, dataset, args.out / "pruned-tp-magnitude", macs, args.finetune_epochs)
    print(f"torch-pruning magnitude: {anchor_note}", flush=True)
    first = candidates[f"pruned {args.criteria[0]}"]
    pruned = api.load_model(first)
    for fmt, suffix in (("onnx", ".onnx"), ("openvino", ".xml")):
        path = args.out / f"pruned-{args.criteria[0]}-int8{suffix}"
        api.export(pruned, dataset, path, format=fmt, int8=True)
        candidates[f"{fmt} int8 ({args.criteria[0]})"] = path
    models = {"dense": dense, **{name: api.load_model(path) for name, path in candidates.items()}}
    record = api.validate_segmentation(dense, list(models.values())[1:], dataset, args.out / "validation")
    latency = latency_per_volume(models, dataset, args.repeats)
    verdicts = {name: c for name, c in zip(candidates, record["candidates"])}
    print(f"\n{dataset.name}: {len(dataset.split('test'))} test cases; latency per whole case, batch 1, "
          f"{torch.get_num_threads()} threads, median of {args.repeats * 3} interleaved runs")
    structures = dataset.structures
    header = ["model", *[f"Dice {s}" for s in structures], *[f"HD95 {s}" for s in structures], "ms/case", "x dense",
              "MB", "verdict"]
    print(" | ".join(header))
    rows = []
    for name, m in models.items():
        cases = record["reference"]["cases"] if name == "dense" else verdicts[name]["cases"]
        dice = [statistics.fmean(row[k] for row in cases["dice"]) for k in range(len(structures))]
        hd = [statistics.fmean(row[k] for row in cases["hd95"]) for k in range(len(structures))]
        path = Path(m.path)
        size = path.stat().st_size + (path.with_suffix(".bin").stat().st_size if path.suffix == ".xml" else 0)
        verdict = "reference" if name == "dense" else verdicts[name]["verdict"]
        failed = "" if name == "dense" else ",".join(verdicts[name]["failed_endpoints"])
        row = {"model": name, "dice": dice, "hd95": hd, "ms_per_case": latency[name],
               "speedup": latency["dense"] / latency[name], "size_mb": size / 1e6, "verdict": verdict,
               "failed_endpoints": failed}
        rows.append(row)
        print(" | ".join([name, *[f"{d:.4f}" for d in dice], *[f"{h:.2f}" for h in hd], f"{latency[name]:.1f}",
                          f"{row['speedup']:.2f}", f"{size / 1e6:.2f}", verdict + (f" ({failed})" if failed else "")]))
    (args.out / "segmentation.json").write_text(json.dumps(rows, indent=2))
    print(f"wall time {time.perf_counter() - began:.0f} s; wrote {args.out / 'segmentation.json'} and the report "
          f"{args.out / 'validation' / 'report.html'}")


if __name__ == "__main__":
    main()
