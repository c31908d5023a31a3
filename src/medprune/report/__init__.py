"""Human-readable reports: Markdown summaries of runs."""

from medprune.report.summary import (render_efficiency_table, render_metrics_table, render_pruning_summary,
                                     render_run_summary)

__all__ = ["render_efficiency_table", "render_metrics_table", "render_pruning_summary", "render_run_summary"]
