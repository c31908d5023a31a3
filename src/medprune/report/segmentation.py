"""The segmentation validation report: the verdict and the endpoint that failed first, then per-case paired Dice,
volume agreement (Bland-Altman), contour overlays of the cases whose Dice fell most, and the model card."""

from __future__ import annotations


import numpy as np

from medprune.data.segmentation import SegmentationSplit
from medprune.records.validation import SegmentationValidation, SegmentationVerdict
from medprune.report.html import DEFAULT_INTENDED_USE
from medprune.report.plots import encode_png, new_figure
from medprune.report.template import render_template

COLOURS = {"truth": "#2ca02c", "reference": "#1f77b4", "candidate": "#ff7f0e"}
OVERLAY_CASES = 4


def paired_dice_plot(record: SegmentationValidation, candidate: SegmentationVerdict) -> str:
    """Per structure, each case's Dice: reference (x) against candidate (y), with the no-change line and the fall
    the safety endpoint counts."""
    structures = record.structures
    fig, axes = new_figure(4.2 * len(structures), 4.0, columns=len(structures))
    axes = np.atleast_1d(axes).ravel()
    ref, cand = np.array(record.reference.cases["dice"]), np.array(candidate.cases["dice"])
    fall = record.protocol.segmentation_margins["dice_fall"]
    for k, (ax, name) in enumerate(zip(axes, structures)):
        low = float(min(ref[:, k].min(), cand[:, k].min(), 0.5)) - 0.02
        ax.plot([low, 1], [low, 1], c="grey", lw=1, label="no change")
        ax.plot([low + fall, 1], [low, 1 - fall], c="tab:red", ls="--", lw=1, label=f"fell by {fall:g}")
        fell = (ref[:, k] - cand[:, k]) > fall
        ax.scatter(ref[~fell, k], cand[~fell, k], s=14, c="tab:blue", label="case")
        ax.scatter(ref[fell, k], cand[fell, k], s=22, c="tab:red", marker="x", label="case that fell")
        ax.set(xlim=(low, 1), ylim=(low, 1), xlabel="reference Dice", ylabel=f"{candidate.name} Dice", title=name)
        ax.legend(fontsize=7, loc="lower right")
    return encode_png(fig)


def bland_altman_plot(candidate: SegmentationVerdict, unit: str) -> str:
    """Candidate against reference volume per structure: differences over means, bias and 95% limits."""
    volumes = candidate.volumes
    fig, axes = new_figure(4.2 * len(volumes), 3.6, columns=len(volumes))
    axes = np.atleast_1d(axes).ravel()
    for ax, (name, v) in zip(axes, volumes.items()):
        ba = v["candidate_vs_reference"]
        ax.scatter(ba["mean"], ba["difference"], s=12, c="tab:blue")
        for value, style in ((ba["bias"], "-"), (ba["low"], "--"), (ba["high"], "--")):
            ax.axhline(value, c="tab:red", ls=style, lw=1)
        ax.set(xlabel=f"mean volume ({unit})", ylabel=f"candidate - reference ({unit})", title=name)
    return encode_png(fig)


def _slices(volume: np.ndarray, centre: tuple[int, ...]) -> list[np.ndarray]:
    """A 2D image as is; a volume as three orthogonal slices through `centre`."""
    if volume.ndim == 2:
        return [volume]
    return [volume[centre[0]], volume[:, centre[1]], volume[:, :, centre[2]]]


def overlay_figure(split: SegmentationSplit, index: int, predictions: dict[str, np.ndarray], title: str) -> str:
    """The case's image with the ground truth, reference and candidate contours of every structure."""
    image, truth = split.case(index)
    image = image[0]
    foreground = np.argwhere(truth > 0)
    centre = tuple(int(c) for c in (foreground.mean(0) if len(foreground) else np.array(truth.shape) / 2))
    views = _slices(image, centre)
    fig, axes = new_figure(2.6 * len(views), 2.8, columns=len(views))
    axes = np.atleast_1d(axes).ravel()
    layers = {"truth": truth, **predictions}
    for v, ax in enumerate(axes):
        ax.imshow(views[v], cmap="gray")  # 2D images as stored: rows down, columns across
        for name, labels in layers.items():
            view = _slices(labels, centre)[v]
            if view.max() > 0:
                ax.contour(view, levels=np.arange(0.5, view.max() + 0.5), colors=COLOURS[name], linewidths=1.0)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_title(title, fontsize=8, loc="left")
    return encode_png(fig)


def render_segmentation_report(record: SegmentationValidation, predictions: dict[str, list[np.ndarray]],
                               split: SegmentationSplit, *, intended_use: str | None = None) -> str:
    unit = record.protocol.volume_unit
    figures = {}
    for c in record.candidates:
        ref, cand = np.array(record.reference.cases["dice"]), np.array(c.cases["dice"])
        worst = np.argsort((cand - ref).mean(1))[:OVERLAY_CASES]  # the largest falls first
        overlays = [overlay_figure(split, int(i), {"reference": predictions["reference"][i],
                                                   "candidate": predictions[c.name][i]},
                                   f"test case {int(i)}: Dice change {float((cand - ref)[i].mean()):+.3f}")
                    for i in worst]
        figures[c.name] = {"paired": paired_dice_plot(record, c), "bland_altman": bland_altman_plot(c, unit),
                              "overlays": overlays}
    return render_template("segmentation.html.j2", r=record.to_json_dict(), figures=figures, unit=unit, colours=COLOURS,
                           intended_use=intended_use or DEFAULT_INTENDED_USE)
