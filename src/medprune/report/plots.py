"""Figures for the validation report, returned as base64 PNG so the HTML file stands alone."""

from __future__ import annotations

import base64
import io

import numpy as np

from medprune.data.images import as_picture


def new_figure(width: float = 5.0, height: float = 4.0, columns: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, columns, figsize=(width, height), squeeze=columns == 1)


def encode_png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def roc_plot(y: np.ndarray, curves: dict[str, np.ndarray], class_names: list[str]) -> str:
    """ROC curves (binary: P(positive); multi-class: micro one-vs-rest)."""
    from sklearn.metrics import roc_curve

    fig, ax = new_figure()
    for label, probs in curves.items():
        if probs.shape[1] == 2:
            fpr, tpr, _ = roc_curve(y, probs[:, 1])
        else:
            onehot = np.eye(probs.shape[1])[y]
            fpr, tpr, _ = roc_curve(onehot.ravel(), probs.ravel())
        ax.plot(fpr, tpr, label=label, lw=1.5)
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title("ROC curve" if len(class_names) == 2 else "ROC curve (micro one-vs-rest)")
    ax.legend(fontsize=8)
    return encode_png(fig)


def calibration_plot(y: np.ndarray, curves: dict[str, np.ndarray], n_bins: int = 10) -> str:
    """Reliability diagram with equal-mass bins (binary: P(positive); multi-class: top label)."""
    fig, ax = new_figure()
    shown = []
    for label, probs in curves.items():
        if probs.shape[1] == 2:
            conf, event = probs[:, 1], (y == 1).astype(float)
        else:
            conf, event = probs.max(axis=1), (probs.argmax(axis=1) == y).astype(float)
        bins = [b for b in np.array_split(np.argsort(conf), n_bins) if len(b)]
        points = np.array([[conf[b].mean(), event[b].mean()] for b in bins])
        shown.append(points)
        ax.plot(points[:, 0], points[:, 1], "o-", label=label, ms=4)
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    # Confident models put most bins near 0 and 1: zoom to the points (one range for both axes, so the diagonal
    # stays the diagonal) instead of squashing them against a corner.
    low, high = _padded_range(np.concatenate(shown))
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title("Calibration (equal-mass bins)" + ("" if (low, high) == (0.0, 1.0) else ", zoomed to the bins"))
    ax.legend(fontsize=8)
    return encode_png(fig)


def _padded_range(values: np.ndarray, pad: float = 0.05) -> tuple[float, float]:
    """The range of `values` widened by `pad` of itself (at least 0.1 wide), within [0, 1]."""
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    margin = max(pad * (high - low), (0.1 - (high - low)) / 2, 0.01)
    return max(0.0, low - margin), min(1.0, high + margin)


def forest_plot(rows: list[dict], margin: float, metric: str, title: str) -> str:
    """Subgroup deltas (candidate - reference) with CIs, against the non-inferiority margin; the legend sits
    below the axes, where it cannot hide an interval."""
    fig, ax = new_figure(8.0, 1.8 + 0.5 * len(rows))
    for i, r in enumerate(rows):
        y = len(rows) - i
        if np.isfinite(r["ci_low"]):
            ax.plot([r["ci_low"], r["ci_high"]], [y, y], c="black", lw=1.5)
        colour = "tab:red" if np.isfinite(r["ci_high"]) and r["ci_high"] < -margin else "tab:blue"  # this metric
        ax.plot([r["delta"]], [y], "s", c=colour, ms=6)
    ax.set_yticks(range(len(rows), 0, -1))
    ax.set_yticklabels([f"{r['group']} (n={r['n']})" for r in rows])
    ax.axvline(0, c="grey", ls=":")
    ax.axvline(-margin, c="tab:red", ls="--", label=f"-margin ({-margin:g})")
    ax.set_xlabel(f"delta {metric} (candidate - reference)")
    ax.set_title(title)
    ax.set_ylim(0.4, len(rows) + 0.6)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=2, frameon=False)
    return encode_png(fig)


def robustness_heatmap(robustness: dict, candidate: str) -> str:
    """Paired AUROC delta (candidate - reference) per corruption (rows) and severity (columns)."""
    names = [c["name"] for c in robustness["corruptions"]]
    severities = robustness["severities"]
    grid = np.full((len(names), len(severities)), np.nan)
    for row in robustness["conditions"]:
        grid[names.index(row["corruption"]), severities.index(row["severity"])] = row["candidates"][candidate]["delta"]
    limit = max(float(np.nanmax(np.abs(grid))), robustness["margin"])
    fig, ax = new_figure(4.6, 0.32 * len(names) + 1.2)
    shown = ax.imshow(grid, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(severities)), [str(s) for s in severities])
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("severity")
    for (i, j), value in np.ndenumerate(grid):
        ax.text(j, i, f"{value:+.3f}", ha="center", va="center", fontsize=6.5,
                color="white" if abs(value) > 0.6 * limit else "black")
    fig.colorbar(shown, ax=ax, label="AUROC delta")
    ax.set_title(f"{candidate}: AUROC delta under corruption", fontsize=9)
    return encode_png(fig)


def thumbnail(image: np.ndarray) -> str:
    """A (C, H, W) uint8 image, or a volume's three mid-slices, as a small PNG."""
    picture = as_picture(image)
    fig, ax = new_figure(1.4 * picture.shape[1] / picture.shape[0], 1.4)
    if picture.ndim == 2:
        ax.imshow(picture, cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(picture)
    ax.axis("off")
    return encode_png(fig)


def pareto_plot(points: list[tuple[float, float, int, str]], reference: str, *,
                x_label: str = "latency, batch 32, fastest runtime (ms, log scale)",
                y_label: str = "test AUROC") -> str:
    """Accuracy (test AUROC by default) against the fastest latency of each model, given as (latency, accuracy, gzip
    bytes, name); marker area ~ gzip size; the models no other beats on both axes are joined (the Pareto front)."""
    fig, ax = new_figure(6.5, 4.6)
    largest = max(p[2] for p in points)
    for x, y, size, name in points:
        ax.scatter([x], [y], s=30 + 400 * size / largest, alpha=0.6,
                   c="tab:grey" if name == reference else "tab:blue", edgecolors="black", linewidths=0.5)
        ax.annotate(name, (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    front = sorted((p for p in points if not any(q[0] <= p[0] and q[1] >= p[1] and q[:2] != p[:2] for q in points)),
                   key=lambda p: p[0])
    ax.plot([p[0] for p in front], [p[1] for p in front], "--", c="tab:orange", lw=1, label="Pareto front")
    ax.set_xscale("log")
    from matplotlib.ticker import ScalarFormatter

    for axis in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
        axis(ScalarFormatter())
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title("Accuracy against speed (marker area: gzip file size)")
    ax.legend(fontsize=8)
    return encode_png(fig)
