"""`medprune prune`: make a trained model smaller with a registered criterion, then fine-tune it."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from medprune import api
from medprune.cli.app import command, console
from medprune.cli.options import AugmentOpt, DataDirOpt, ModelDirOpt, OptionalDataOpt, OutOpt, ProgressOpt


@command("prune", outputs={"out": "dir"})
def prune(
    model: ModelDirOpt,
    out: OutOpt,
    data: OptionalDataOpt = None,
    criterion: Annotated[str, typer.Option("--criterion", "--method", help="Importance criterion (see `medprune list "
                                                                         "criteria`); --method is the older spelling.")
                      ] = "taylor",
    structured: Annotated[bool, typer.Option("--structured", help="Remove whole channels (faster on CPU) "
                                                                  "instead of zeroing weights.")] = False,
    target: Annotated[str, typer.Option(help="sparsity=0.9 (fraction zeroed) or macs= / params= / latency= "
                                             "(fraction of the dense model kept).")] = "sparsity=0.5",
    schedule: Annotated[str, typer.Option(help="oneshot, iterative:K[:linear|cubic] or until-tolerance.")] = "oneshot",
    scope: Annotated[str, typer.Option(help="global ranking, or the same ratio in every layer (layer).")] = "global",
    max_layer_ratio: Annotated[Optional[float], typer.Option(
        help="No layer loses more than this share of its channels (default 0.9) or weights (default 0.98).")] = None,
    pattern: Annotated[Optional[str], typer.Option(help="N:M sparsity pattern such as 2:4 (unstructured).")] = None,
    round_to: Annotated[int, typer.Option(help="--structured: kept channel counts are multiples of this (CPU "
                                               "kernels vectorise by 8 or 16 floats; 1: no rounding).")] = 8,
    calibration_batches: Annotated[int, typer.Option(help="Training batches used by gradient criteria.")] = 4,
    calibration_batch_size: Annotated[int, typer.Option(help="Size of those batches (and of the BatchNorm "
                                                             "ones).")] = 64,
    bn_batches: Annotated[int, typer.Option(help="Training batches that re-estimate BatchNorm statistics after each "
                                                 "step (adaptive BatchNorm; 0: off).")] = 8,
    finetune_epochs: Annotated[Optional[int], typer.Option(
        help="Fine-tuning epochs after the last step (default: at least 150 optimizer steps and 3 epochs, at most 50, "
             "with early stopping on validation AUROC).")] = None,
    step_epochs: Annotated[int, typer.Option(help="Fine-tuning epochs after each earlier step.")] = 1,
    lr: Annotated[float, typer.Option(help="Fine-tuning learning rate.")] = 5e-4,
    batch_size: Annotated[int, typer.Option(help="Fine-tuning batch size.")] = 128,
    distill: Annotated[bool, typer.Option("--distill", help="Fine-tune with knowledge distillation from the "
                                                           "dense model.")] = False,
    temperature: Annotated[float, typer.Option(help="Distillation temperature.")] = 4.0,
    distill_weight: Annotated[float, typer.Option(help="Weight of the distillation loss (0..1).")] = 0.5,
    augment: AugmentOpt = "auto",
    operating_margin: Annotated[float, typer.Option(
        help="Fine-tuning keeps the best validation AUROC among epochs whose validation sensitivity and specificity "
             "at the dense model's threshold fall by at most this (1: AUROC alone).")] = 0.05,
    tolerance: Annotated[float, typer.Option(help="until-tolerance: largest allowed drop in validation "
                                                  "AUROC.")] = 0.01,
    step_fraction: Annotated[float, typer.Option(
        "--step-fraction", "--step",
        help="until-tolerance: share of the remaining cost removed per step (--step is the older spelling).")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of calibration batches and fine-tuning.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted pruning run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a finished run in --out.")] = False,
    data_dir: DataDirOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Prune a trained model, fine-tune it, and compare it with the dense model at the same threshold."""
    settings = api.PruneSettings(
        criterion=criterion, structured=structured, target=target, schedule=schedule, scope=scope,
        max_layer_ratio=max_layer_ratio, pattern=pattern, round_to=round_to, calibration_batches=calibration_batches,
        calibration_batch_size=calibration_batch_size, bn_batches=bn_batches,
        finetune_epochs=finetune_epochs, step_epochs=step_epochs, lr=lr, batch_size=batch_size, distill=distill,
        temperature=temperature, distill_weight=distill_weight, operating_margin=operating_margin,
        tolerance=tolerance, step_fraction=step_fraction,
        augment=augment,
        seed=seed)
    settings.check()
    dense = api.load_model(model)
    dataset = api.load_data_for(dense, data, data_dir=data_dir)
    record = api.prune(dense, dataset, settings, out, resume=resume, overwrite=overwrite, progress=progress,
                       log=console.print)
    console.print((out / "summary.md").read_text())
    achieved = record["pruning"]["achieved"]
    console.print(f"pruned run written to {out}: MACs x{achieved['macs_ratio']:.3f}, params "
                  f"x{achieved['params_ratio']:.3f}, zero weights {achieved['sparsity']:.3f}")
