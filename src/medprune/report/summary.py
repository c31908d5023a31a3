"""A short Markdown summary of a run that a clinician can read in a minute."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medprune.records.metrics import ClassificationMetrics


def fmt_value(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.{digits}f}"
    return str(value)


def fmt_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def render_metrics_table(metrics: dict[str, Any]) -> str:
    rows = [("AUROC", "auroc"), ("AUPRC", "auprc"), ("Sensitivity", "sensitivity"),
            ("Specificity", "specificity"), ("PPV", "ppv"), ("NPV", "npv"), ("Accuracy", "accuracy"),
            ("Balanced accuracy", "balanced_accuracy"), ("ECE (equal-mass, 15 bins)", "ece"),
            ("Brier score", "brier")]
    lines = ["| Metric | Value |", "|---|---|"]
    lines += [f"| {label} | {fmt_value(metrics.get(key))} |" for label, key in rows]
    return "\n".join(lines)


def render_efficiency_table(eff: dict[str, Any]) -> str:
    lat = eff["latency_ms"]
    lines = ["| Figure | Value |", "|---|---|",
             f"| Parameters | {eff['params']:,} ({eff['nonzero_params']:,} non-zero) |",
             f"| MACs per image | {eff['macs']:,} |",
             f"| File size | {fmt_bytes(eff['size_bytes'])} ({fmt_bytes(eff['size_gzip_bytes'])} gzip) |",
             f"| CPU latency, batch 1 | {lat['batch1']:.2f} ms |",
             f"| CPU latency, batch 32 | {lat['batch32']:.2f} ms |",
             f"| Peak inference memory (batch 32) | {fmt_bytes(eff['peak_memory_bytes'])} |"]
    cond = eff.get("conditions", {})
    lines.append(f"\nLatency: median of {cond.get('repeats')} runs after {cond.get('warmup')} warm-up, "
                 f"{cond.get('threads')} threads, {cond.get('runtime')}.")
    return "\n".join(lines)


def render_run_summary(metrics: ClassificationMetrics) -> str:
    """Markdown for `summary.md` of a training run directory."""
    data, model, training = metrics.data, metrics.model, metrics.training
    threshold = metrics.threshold
    decision = (f"P({data['class_names'][1]}) >= {threshold:.4f}, chosen on the validation split "
                f"({metrics.threshold_method})" if threshold is not None else "most probable class (argmax)")
    parts = [
        f"# {model['name']} on {data['name']}",
        "",
        f"- Task: {data['task']} ({', '.join(data['class_names'])})"
        + (f"; positive (disease) class: {data['class_names'][1]}" if len(data["class_names"]) == 2 else "")
        + "; cases train / val / test: "
        f"{data['n']['train']} / {data['n']['val']} / {data['n']['test']}",
        f"- Decision rule: {decision}",
    ]
    if training:
        result = training.result
        plan = getattr(result, "plan", None) or {}
        recipe = ""
        if plan:
            flips = " with left-right flips" if plan.get("mirror") else ""
            recipe = (f" (augmentation {plan['augment']}{flips}, "
                      f"class weighting {'on' if plan['class_weighting'] else 'off'})")
        parts.append(f"- Training: {len(result.history)} epochs{recipe}, best validation AUROC "
                     f"{fmt_value(result.best_val_auroc, 4)} at epoch {result.best_epoch}, "
                     f"{result.wall_time_s:.0f} s; stopped: {result.stopped or 'the epochs ran out'}")
    figures = metrics.model_dump()
    parts += ["", f"## Test results ({metrics.n} cases)", "", render_metrics_table(figures)]
    if metrics.per_class:
        parts += ["", "| Class | Sensitivity | Specificity | AUROC |", "|---|---|---|---|"]
        parts += [f"| {name} | {fmt_value(r['sensitivity'])} | {fmt_value(r['specificity'])} | {fmt_value(r['auroc'])} |"
                  for name, r in zip(data["class_names"], metrics.per_class)]
    if metrics.efficiency:
        parts += ["", "## Efficiency", "", render_efficiency_table(metrics.efficiency)]
    return "\n".join(parts) + "\n"


def render_pruning_summary(metrics: ClassificationMetrics) -> str:
    """Markdown: dense and pruned model side by side, at the same (dense) decision threshold."""
    dense, pruned = metrics.reference.model_dump(), metrics.model_dump()
    pruning, achieved = metrics.pruning, metrics.pruning.achieved
    rows = [("Test AUROC", "auroc"), ("Sensitivity", "sensitivity"), ("Specificity", "specificity"),
            ("PPV", "ppv"), ("NPV", "npv"), ("Balanced accuracy", "balanced_accuracy"), ("ECE", "ece"),
            ("Brier score", "brier")]
    lines = [f"# {pruning.criterion} pruning of {metrics.model['name']} on {metrics.data['name']}", "",
             f"- Granularity: {pruning.granularity}; target {pruning.target}; schedule {pruning.schedule}",
             f"- Achieved: MACs {achieved['macs_ratio']:.3f} of dense, parameters {achieved['params_ratio']:.3f}, "
             f"zero weights {achieved['sparsity']:.3f}; {len(pruning.steps)} step(s), {pruning.wall_time_s:.0f} s",
             ]
    if dense.get("threshold") is not None:
        lines.append(f"- Both models are judged at the dense model's validation threshold {dense['threshold']:.4f}")
    if pruning.note:
        lines.append(f"- {pruning.note}")
    lines += ["", "| | Dense | Pruned | Change |", "|---|---|---|---|"]
    for label, key in rows:
        a, b = dense.get(key), pruned.get(key)
        change = f"{b - a:+.3f}" if isinstance(a, float) and isinstance(b, float) else ""
        lines.append(f"| {label} | {fmt_value(a)} | {fmt_value(b)} | {change} |")
    de, pe = dense["efficiency"], pruned["efficiency"]
    for label, key in (("Parameters", "params"), ("Non-zero parameters", "nonzero_params"), ("MACs", "macs")):
        lines.append(f"| {label} | {de[key]:,} | {pe[key]:,} | x{pe[key] / de[key]:.3f} |")
    for label, key in (("File size", "size_bytes"), ("File size (gzip)", "size_gzip_bytes")):
        a, b = de[key], pe[key]
        size = f"{a / b:.2f}x smaller" if a >= b else f"{b / a:.2f}x larger"
        lines.append(f"| {label} | {fmt_bytes(a)} | {fmt_bytes(b)} | {size} |")
    for batch in ("batch1", "batch32"):
        a, b = de["latency_ms"][batch], pe["latency_ms"][batch]
        speed = f"{a / b:.2f}x faster" if a >= b else f"{b / a:.2f}x slower"
        lines.append(f"| CPU latency {batch} | {a:.2f} ms | {b:.2f} ms | {speed} |")
    return "\n".join(lines) + "\n"
