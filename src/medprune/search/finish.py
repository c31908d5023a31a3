"""After the study: short fine-tunes of the top candidates, the final fine-tune of the chosen one, and the
outputs (`search.json`, `best/` as a run directory, `search.html`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medprune._atomic import write_json_atomic, write_text_atomic
from medprune.errors import ConfigError
from medprune.evaluation.efficiency import measure_latency_interleaved
from medprune.evaluation.evaluate import evaluate
from medprune.evaluation.input_profile import fit_profile
from medprune.models.checkpoint import Checkpoint, save_checkpoint
from medprune.records.search import (Best, Counts, Layout, ParetoPoint, SearchRecord, ShortFinetune, TopTrial,
                                     TrialPoint)
from medprune.report.search import render_search_report
from medprune.search.history import best_so_far, pareto_front, trial_points
from medprune.search.latency import in_runtime
from medprune.training.batchnorm import recalibrate_batchnorm
from medprune.search.scoring import figures_of
from medprune.segmentation import evaluate_segmentation
from medprune.training import TrainConfig, fit
from medprune.training.segmentation import DEFAULT_FINETUNE_EPOCHS, fit_segmentation


def _finetune(model, evaluator, options, epochs: int | None):
    """Fine-tune, selecting the epoch by the search objective among those meeting every requirement; the
    starting model competes, so a candidate that met them is never traded for one that does not."""
    if evaluator.segmentation:  # the training loss and batch size, selection on validation mean Dice
        config = TrainConfig(epochs=DEFAULT_FINETUNE_EPOCHS if epochs is None else epochs, lr=options.lr, patience=0,
                             device=options.device, precision=options.precision)
        fit_segmentation(model, evaluator.dataset, config, progress=options.progress, inference=evaluator.inference,
                         keep_start=True)
        return model

    def score(y, probs) -> float:
        figures = figures_of(y, probs, evaluator.threshold, evaluator.objective)
        return figures["objective"] - (0.0 if all(r.met(figures) for r in evaluator.requirements) else 1.0)

    config = TrainConfig(epochs=epochs, budget="finetuning", lr=options.lr, batch_size=options.train_batch_size,
                         device=options.device, precision=options.precision)
    fit(model, evaluator.dataset, config, progress=options.progress, keep_start=True, selection_score=score)
    return model


def operating_point_shift(dense: dict[str, float], searched: dict[str, float], margin: float) -> dict[str, Any]:
    """Validation sensitivity / specificity at the reference threshold that the searched model lost by more than
    the study's `--operating-margin` (the margin its fine-tuning was guarded by)."""
    return {k: {"dense": dense[k], "searched": searched[k]} for k in ("sensitivity", "specificity")
            if k in searched and dense[k] - searched[k] > margin}


def _ratios(evaluator, keep: list[float]) -> dict[str, float]:
    """Kept share of each group's channels after rounding, by the layer the group is rooted at."""
    removed = evaluator.space.removed(keep)
    return {name: (w - r) / w for name, w, r in zip(evaluator.space.names, evaluator.space.widths, removed)}


def finish(config, options, evaluator, study, out: Path, *, wall_time_s: float, stale: int, warm_started: int,
           counts: dict[str, int]) -> dict[str, Any]:
    points = trial_points(study)
    feasible = sorted((p for p in points if p["feasible"]), key=lambda p: -p["objective"])
    uniform = evaluator.space.uniform(evaluator.cost, evaluator.target.value)
    record = SearchRecord(
        sampler=config.sampler, trials=len(points), objective=str(evaluator.objective),
        require=[str(r) for r in evaluator.requirements], operating_margin=config.operating_margin,
        target=config.target, criterion=config.criterion,
        counts=Counts(finished=len(points), repaired=sum(p["repaired"] for p in points), rejected=counts["pruned"],
                      infeasible=sum(not p["feasible"] for p in points), failed=counts["failed"],
                      stale_marked_failed=stale, warm_started=warm_started),
        wall_time_s=wall_time_s, workers=options.workers, backend=options.backend,
        storage=config.storage if not config.storage.startswith("sqlite") else "sqlite:///study.db",
        history=[TrialPoint.model_validate(p) for p in points],
        best_so_far=best_so_far(points),
        pareto=[ParetoPoint.model_validate(p) for p in pareto_front(points)],
        uniform=Layout(ratios=_ratios(evaluator, uniform), cost_ratio=evaluator.cost(uniform),
                       macs_ratio=evaluator.space.macs_ratio(uniform)),
        top=[TopTrial(trial=p["number"], objective=p["objective"], ratios=_ratios(evaluator, p["keep"]))
             for p in feasible[:10]],
        config=config.identity(), best=None)
    if not feasible:
        write_json_atomic(out / "search.json", record.to_json_dict())
        needs = " and ".join(str(r) for r in evaluator.requirements)
        best = {r.metric: max((p["validation"].get(r.metric, float("nan")) for p in points), default=float("nan"))
                for r in evaluator.requirements}
        reached = ", ".join(f"best {metric} {value:.3f}" for metric, value in best.items())
        raise ConfigError(f"no candidate within --target {config.target} meets {needs} on validation ({reached} over "
                          f"{len(points)} trials): relax the requirement, raise the target, or run more trials with "
                          "--resume --trials N")

    # Short fine-tune of the top candidates, then the chosen one continues to the full budget.
    short = []
    for p in feasible[: options.finetune_top]:
        model = recalibrate_batchnorm(evaluator.space.materialize(p["keep"]), evaluator.bn_batches)
        _finetune(model, evaluator, options, options.short_epochs)
        figures = evaluator.validation(model)
        ok = all(r.met(figures) for r in evaluator.requirements)
        short.append((ok, figures["objective"], p, model, figures))
    ok, _, chosen, model, _ = max(short, key=lambda s: (s[0], s[1]))
    if options.finetune_epochs is None:
        _finetune(model, evaluator, options, None)  # the fine-tuning step budget, with early stopping
    elif options.finetune_epochs > options.short_epochs:
        _finetune(model, evaluator, options, options.finetune_epochs - options.short_epochs)
    final_val = evaluator.validation(model)
    met = all(r.met(final_val) for r in evaluator.requirements)
    dense_val = evaluator.validation(evaluator.dense.model)
    shifted = operating_point_shift(dense_val, final_val, config.operating_margin)

    dense, dataset = evaluator.dense, evaluator.dataset
    spec = dense.spec.for_new_weights(search={"sampler": config.sampler, "trial": chosen["number"],
                                              "target": config.target}, input_profile=fit_profile(model, dataset))
    best_dir = out / "best"
    best_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(best_dir / "model.pt", model, spec)
    pruned = Checkpoint(model, spec, best_dir / "model.pt")
    threshold = evaluator.threshold
    if evaluator.segmentation:
        test = evaluate_segmentation(pruned, dataset).to_json_dict()
        reference = evaluate_segmentation(dense, dataset).to_json_dict()
    else:
        test = evaluate(pruned, dataset, threshold=threshold).to_dict()
        reference = evaluate(dense, dataset, threshold=threshold).to_dict()
    shape = tuple(dataset.input_shape)
    batch = 1 if evaluator.segmentation else 32  # whole volumes are served one at a time
    timed = measure_latency_interleaved({"best": in_runtime(model, shape, config.runtime),
                                         "dense": in_runtime(dense.model, shape, config.runtime)}, shape, batch)
    best = record.best = Best(
        trial=chosen["number"], ratios=_ratios(evaluator, chosen["keep"]), objective=chosen["objective"],
        objective_after_finetune=final_val["objective"], validation_after_finetune=final_val,
        requirements_met_on_validation=met, macs_ratio=evaluator.space.macs_ratio(chosen["keep"]),
        cost_ratio=evaluator.cost(chosen["keep"]), latency_ms=timed["best"], dense_latency_ms=timed["dense"],
        latency_batch=batch, runtime=config.runtime, test=test, dir=str(best_dir),
        short_finetune=[ShortFinetune(trial=s[2]["number"], objective=s[1], requirements_met=s[0]) for s in short],
        operating_point_shift=shifted)
    metrics = {**test, "data": dataset.describe(), "model": spec.model.model_dump(), "reference": reference,
               "search": best.model_dump(include={"trial", "ratios", "macs_ratio", "latency_ms"})}
    if not evaluator.segmentation:
        metrics["threshold_method"] = "dense model's validation threshold, carried unchanged"
    write_json_atomic(best_dir / "metrics.json", metrics)
    written = record.to_json_dict()
    write_json_atomic(out / "search.json", written)
    write_text_atomic(out / "search.html", render_search_report(record))
    if evaluator.latency is not None:
        evaluator.latency.save()
    return written
