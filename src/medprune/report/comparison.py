"""The comparison table as Markdown, and the HTML report with its Pareto plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medprune._atomic import write_text_atomic
from medprune.records.comparison import ComparisonBase, ModelRow, Row, SegmentationComparison, \
    SegmentationRow
from medprune.report.plots import pareto_plot
from medprune.report.summary import fmt_bytes, fmt_value
from medprune.report.template import render_template

COLUMNS = ["technique", "params", "MACs", "size", "gzip", "PyTorch b1 ms", "PyTorch b32 ms", "ORT b1 ms",
           "ORT b32 ms", "OpenVINO b1 ms", "OpenVINO b32 ms", "AUROC (CI)", "sens", "spec", "ECE", "verdict",
           "worst corruption (mean AUROC delta)",
           "wall time"]


def _ms(latency: dict[str, dict[str, float] | None], runtime: str, batch: int | str) -> str:
    value = (latency.get(runtime) or {}).get(f"batch{batch}" if isinstance(batch, int) else batch)
    return "—" if value is None else f"{value:.2f}"


def _worst_corruption(row: Row) -> str:
    extra = row.model_extra or {}
    if "worst_corruption" not in extra:
        return "—"
    return f"{extra['worst_corruption']} {extra['worst_corruption_delta']:+.4f} ({extra['robustness_verdict']})"


def table_cells(row: Row) -> list[str]:
    lat, ci = row.latency_ms, row.auroc_ci
    return [row.name, f"{row.params / 1e6:.2f} M", f"{row.macs / 1e6:.1f} M", fmt_bytes(row.size_bytes),
            fmt_bytes(row.size_gzip_bytes), _ms(lat, "pytorch", 1), _ms(lat, "pytorch", 32),
            _ms(lat, "onnxruntime", 1), _ms(lat, "onnxruntime", 32), _ms(lat, "openvino", 1), _ms(lat, "openvino", 32),
            f"{row.auroc:.4f} ({ci[0]:.4f}–{ci[1]:.4f})", fmt_value(row.sensitivity), fmt_value(row.specificity),
            fmt_value(row.ece), verdict_cell(row), _worst_corruption(row), _seconds(row.wall_time_s)]


def verdict_cell(row: ModelRow) -> str:
    """The verdict, naming the endpoints that kept the candidate from being non-inferior."""
    return f"{row.verdict} ({', '.join(row.failed_endpoints)})" if row.failed_endpoints else row.verdict


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


TERMINAL_COLUMNS = ["technique", "MACs", "gzip", "fastest b32 ms", "speed-up", "AUROC (CI)", "sens", "spec",
                    "verdict", "wall time"]


def terminal_cells(row: Row) -> list[str]:
    """The few columns that fit a terminal; the files hold every column."""
    full = dict(zip(COLUMNS, table_cells(row)))
    return [full["technique"], full["MACs"], full["gzip"], f"{row.fastest_b32_ms:.2f}",
            f"{row.speedup_b32_vs_reference_pytorch:.1f}x", full["AUROC (CI)"], full["sens"], full["spec"],
            full["verdict"], full["wall time"]]


SEGMENTATION_COLUMNS = ["technique", "params", "MACs per patch", "size", "gzip", "PyTorch ms per case",
                        "ORT ms per case", "OpenVINO ms per case", "Dice", "HD95", "verdict", "wall time"]


def _per_structure(values: dict[str, float], digits: int) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in values.values())


def segmentation_cells(row: SegmentationRow) -> list[str]:
    lat = row.latency_ms
    return [row.name, f"{row.params / 1e6:.2f} M", f"{row.macs / 1e6:.1f} M", fmt_bytes(row.size_bytes),
            fmt_bytes(row.size_gzip_bytes), _ms(lat, "pytorch", "case"), _ms(lat, "onnxruntime", "case"),
            _ms(lat, "openvino", "case"), _per_structure(row.dice, 4), _per_structure(row.hd95, 2), verdict_cell(row),
            _seconds(row.wall_time_s)]


SEGMENTATION_TERMINAL_COLUMNS = ["technique", "MACs per patch", "gzip", "fastest ms per case", "speed-up", "Dice",
                                 "HD95", "verdict", "wall time"]


def segmentation_terminal_cells(row: SegmentationRow) -> list[str]:
    full = dict(zip(SEGMENTATION_COLUMNS, segmentation_cells(row)))
    return [full["technique"], full["MACs per patch"], full["gzip"], f"{row.fastest_case_ms:.1f}",
            f"{row.speedup_case_vs_reference_pytorch:.1f}x", full["Dice"], full["HD95"], full["verdict"],
            full["wall time"]]


def segmentation_method(record: SegmentationComparison) -> str:
    """How the segmentation table was judged and timed, in words (Markdown and HTML alike)."""
    m, unit = record.validation["segmentation_margins"], record.spacing_unit
    return (f"Dice and HD95 ({unit}): test means per structure ({' / '.join(record.structures)}). Verdict: "
            f"non-inferiority on the Dice of each structure (margin {m['dice']:g}), the HD95 of each structure "
            f"(margin {m['hd95_mm']:g} {unit}) and the share of cases whose Dice falls by more than "
            f"{m['dice_fall']:g} (at most {m['fall_share']:g}), all co-primary, paired on the same test cases, "
            f"Holm-adjusted across rows, inconclusive below {record.validation['min_cases']} test cases; a failed "
            "endpoint is named beside the verdict. Latency: one whole case (batch 1) through the model's sliding "
            f"windows, median of {record.measure['latency_repeats']} runs timed in alternating blocks, "
            f"{record.measure['threads']} threads; ORT = ONNX Runtime; ORT and OpenVINO run the fp32 exports of "
            "PyTorch models, or an int8 model in its own runtime."
            + "".join(f" Too few to judge: {said}." for said in record.too_few))


def budget_words(budget: dict[str, Any]) -> str:
    """The fine-tuning budget in words: fixed epochs, or the step budget with early stopping."""
    if budget.get("epochs") is None:
        return "the fine-tuning step budget (at least 150 steps, early stopping)"
    return f"{budget['epochs']} epochs"


def _table(record: ComparisonBase) -> tuple[list[str], list[list[str]]]:
    """The columns and cells of the record's full table (the Markdown and the HTML page)."""
    if isinstance(record, SegmentationComparison):
        return SEGMENTATION_COLUMNS, [segmentation_cells(row) for row in record.rows]
    return COLUMNS, [table_cells(row) for row in record.rows]


def render_comparison_markdown(record: ComparisonBase) -> str:
    if isinstance(record, SegmentationComparison):
        head = [f"# Compression techniques compared on {record.data['name']}", "",
                f"Reference: `{record.reference.path}` ({record.reference.architecture}). Fine-tuning budget: "
                f"{budget_words(record.budget)} at lr {record.budget['lr']:g}. {segmentation_method(record)}", ""]
    else:
        v, measure = record.validation, record.measure
        head = [f"# Compression techniques compared on {record.data['name']}", "",
                f"Reference: `{record.reference.path}` ({record.reference.architecture}). Fine-tuning budget: "
                f"{budget_words(record.budget)} at lr {record.budget['lr']:g}. Sensitivity and specificity at "
                f"the reference threshold {fmt_value(record.threshold, 4)}; verdict: non-inferiority on "
                f"{', '.join(f'{name} (margin {m:g})' for name, m in v['margins'].items())}, all co-primary, "
                "Holm-adjusted across rows; a failed endpoint is named beside the verdict. "
                f"Latency: median of {measure['latency_repeats']} "
                f"runs timed in alternating blocks, {measure['threads']} threads; ORT = ONNX Runtime; ORT and "
                "OpenVINO run the fp32 exports of PyTorch models, or an int8 model in its own runtime.", ""]
    columns, cells = _table(record)
    lines = head + ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def render_comparison_html(record: ComparisonBase) -> str:
    if isinstance(record, SegmentationComparison):
        plot = pareto_plot([(row.fastest_case_ms, sum(row.dice.values()) / len(row.dice), row.size_gzip_bytes,
                             row.name) for row in record.rows], record.rows[0].name,
                           x_label="latency per case, batch 1, fastest runtime (ms, log scale)",
                           y_label="test Dice, mean over structures")
        method = segmentation_method(record)
    else:
        plot = pareto_plot([(row.fastest_b32_ms, row.auroc, row.size_gzip_bytes, row.name) for row in record.rows],
                           record.rows[0].name)
        method = None
    columns, cells = _table(record)
    return render_template(
        "comparison.html.j2", r=record, columns=columns, cells=cells, plot=plot, method=method,
        verdict_column=columns.index("verdict") + 1, budget_words=budget_words(record.budget))


def write_comparison_reports(record: ComparisonBase, out: Path) -> None:
    write_text_atomic(out / "comparison.md", render_comparison_markdown(record))
    write_text_atomic(out / "comparison.html", render_comparison_html(record))
