"""Print metrics as rich tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from medprune.cli.app import console


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def show_metrics(record: dict[str, Any], title: str) -> None:
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
    console.print(table)
