"""Print metrics as rich tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from medprune.cli.app import console
from medprune.records import SegmentationMetrics
from medprune.records.validation import ValidationRecord


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def show_metrics(record: dict[str, Any], title: str) -> None:
    if record.get("task") == "segmentation":
        show_segmentation_metrics(record, title)
        return
    table = Table(title=title, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("n", "auroc", "auprc", "sensitivity", "specificity", "ppv", "npv", "accuracy",
                "balanced_accuracy", "threshold", "ece", "brier"):
        table.add_row(key, _num(record.get(key)))
    eff = record.get("efficiency")
    if eff:
        for key in ("params", "nonzero_params", "macs", "size_bytes", "size_gzip_bytes", "peak_memory_bytes"):
            table.add_row(key, _num(eff[key]))
        for batch, ms in eff["latency_ms"].items():
            table.add_row(f"latency_ms {batch}", f"{ms:.2f}")
        table.add_row("latency timed on", eff.get("conditions", {}).get("latency_device", "cpu"))
    console.print(table)


def show_segmentation_metrics(record: dict[str, Any], title: str) -> None:
    """One row per structure: mean Dice, HD95, NSD and volume error over the split's cases; then efficiency."""
    metrics = SegmentationMetrics.model_validate(record)
    unit = metrics.conventions.spacing_unit
    table = Table(title=f"{title} ({metrics.n_cases} cases)")
    for column in ("structure", "Dice", f"HD95 ({unit})", "NSD", f"volume error ({metrics.conventions.volume_unit})"):
        table.add_column(column, justify="left" if column == "structure" else "right")
    for name, s in metrics.per_structure.items():
        table.add_row(name, f"{s.dice:.4f}", f"{s.hd95_mm:.2f}", f"{s.nsd:.4f}", f"{s.volume_error_ml:+.3f}")
    console.print(table)
    eff, lat = metrics.efficiency, metrics.efficiency.latency
    console.print(f"mean Dice {metrics.mean_dice:.4f}; {eff.params:,} parameters, {eff.macs_per_patch:,} MACs "
                  f"per patch; {lat.per_case_ms:.1f} ms per case, {lat.per_patch_ms:.1f} ms per patch ({lat.device}, "
                  f"{lat.threads} threads)", markup=False, highlight=False)


def show_verdicts(record: dict[str, Any], data_name: str) -> None:
    """One row per candidate and endpoint: the delta, its interval, and the verdict with its reason."""
    validation = ValidationRecord.read(record)
    protocol = validation.protocol
    level = f"{100 * protocol.confidence_level:g}% CI"
    margins = ", ".join(f"{name} {margin:g}" for name, margin in protocol.margins.items())
    table = Table(title=f"non-inferiority on {data_name}: margins {margins}")
    # names are never cut (pruned-int8.onnx and pruned-int8.xml must stay apart): they fold onto a second line
    table.add_column("candidate", overflow="fold", min_width=12)
    for column in ("endpoint", "delta", level, "endpoint verdict"):  # each candidate's verdict: the lines below
        table.add_column(column, overflow="fold")
    for c in validation.candidates:
        for i, (name, e) in enumerate(c.endpoints.items()):
            table.add_row(c.name if i == 0 else "", name, f"{e.delta:+.4f}", f"{e.ci_low:+.4f} to {e.ci_high:+.4f}",
                          e.verdict)
    console.print(table)
    if validation.too_few_cases:
        console.print(validation.too_few_cases)
    for c in validation.candidates:
        line = f"{c.name}: {c.verdict} ({c.verdict_reason})"
        if c.subgroup_flags:
            line += f"; subgroups worse than the margin: {', '.join(c.subgroup_flags)}"
        rob = getattr(c, "robustness", None)
        if rob is not None:
            line += (f"; on corrupted images {rob.verdict} ({rob.reason}), loses most under "
                     f"{rob.worst_corruption} (mean AUROC delta {rob.worst_delta:+.4f}, "
                     f"{rob.worst_severity_delta:+.4f} at severity 5)")
        console.print(line, markup=False)
