"""The HTML page of a search: optimisation history, Pareto front, per-layer ratios against uniform."""

from __future__ import annotations


import numpy as np

from medprune.records.search import SearchRecord
from medprune.report.plots import encode_png, new_figure
from medprune.report.template import render_template


def history_plot(record: SearchRecord) -> str:
    fig, ax = new_figure(6.0, 3.8)
    h = record.history
    colours = ["tab:blue" if t.feasible else "tab:red" for t in h]
    ax.scatter([t.number for t in h], [t.objective for t in h], s=14, c=colours, alpha=0.7,
               label="trial (red: misses a requirement)")
    ax.plot([t.number for t in h], record.best_so_far, c="black", lw=1.2, label="best so far (score)")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {record.objective} (adaptive BN)")
    ax.set_title(f"Optimisation history: {record.sampler}")
    ax.legend(fontsize=8)
    return encode_png(fig)


def pareto_search_plot(record: SearchRecord) -> str:
    fig, ax = new_figure(6.0, 3.8)
    h = record.history
    ax.scatter([t.cost_ratio for t in h], [t.objective for t in h], s=12, alpha=0.5, c="tab:grey", label="trials")
    front = record.pareto
    ax.plot([p.cost_ratio for p in front], [p.objective for p in front], "o-", c="tab:orange", ms=4,
            label="Pareto front")
    ax.axvline(record.target_value, ls="--", c="tab:red", lw=1, label=f"budget {record.target}")
    ax.set_xlabel(f"cost ratio ({record.target_kind}, share of dense)")
    ax.set_ylabel(f"validation {record.objective}")
    ax.set_title("Objective against cost")
    ax.legend(fontsize=8)
    return encode_png(fig)


def ratio_plot(record: SearchRecord) -> str:
    best, uniform = record.best.ratios, record.uniform.ratios
    layers = list(best)
    fig, ax = new_figure(max(6.0, 0.35 * len(layers)), 4.2)
    x = np.arange(len(layers))
    ax.bar(x - 0.2, [best[k] for k in layers], 0.4, label=f"searched ({record.sampler})")
    ax.bar(x + 0.2, [uniform[k] for k in layers], 0.4, label="uniform", alpha=0.7)
    ax.set_xticks(x)
    ax.set_xticklabels(layers, rotation=70, ha="right", fontsize=7)
    ax.set_ylabel("share of channels kept")
    ax.set_title("Per-layer keep ratios, searched against uniform")
    ax.legend(fontsize=8)
    return encode_png(fig)


def render_search_report(record: SearchRecord) -> str:
    plots = {"history": history_plot(record), "pareto": pareto_search_plot(record), "ratios": ratio_plot(record)}
    return render_template("search.html.j2", r=record, plots=plots)
