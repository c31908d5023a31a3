"""The self-contained HTML validation report: verdict first, then the evidence behind it."""

from __future__ import annotations

from typing import Any

from medprune.data.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from medprune.report.plots import calibration_plot, forest_plot, robustness_heatmap, roc_plot, thumbnail
from medprune.report.template import render_template

DEFAULT_INTENDED_USE = ("Decision support for the task the reference model was trained for, on data like its "
                        "training data; the compressed model is meant to replace the reference on smaller hardware.")


def render_validation_report(result: Any, *, intended_use: str = DEFAULT_INTENDED_USE) -> str:
    """HTML text of the report of a `ValidationResult`."""
    r = result.to_dict()
    curves = {f"reference: {r['reference']['name']}": result.reference_probs}
    curves.update({f"candidate: {c['name']}": p for c, p in zip(r["candidates"], result.candidate_probs)})
    plots = {"roc": roc_plot(result.y_true, curves, r["class_names"]),
             "calibration": calibration_plot(result.y_true, curves),
             "forest": {f"{c['name']}|{column}": forest_plot(rows, c["margin"], c["metric"], f"{c['name']}: {column}")
                        for c in r["candidates"] for column, rows in c["subgroups"].items()}}
    gallery = {c["name"]: [thumbnail(result.images[e["index"]]) if result.images is not None else ""
                           for e in c["exemplars"]] for c in r["candidates"]}
    robustness = _robustness_figures(r["robustness"], result.images) if "robustness" in r else {}
    return render_template("validation.html.j2", r=r, plots=plots, gallery=gallery, intended_use=intended_use,
                           robustness=robustness)


def _robustness_figures(robustness: dict, images: Any) -> dict[str, dict[str, Any]]:
    """Per candidate: its heat map, and the first test case under its worst corruption at each severity."""
    out = {}
    for c in robustness["candidates"]:
        corruption = CORRUPTIONS[robustness["kind"]][c["worst_corruption"]]
        examples = [] if images is None else [
            thumbnail(corrupt(images[:1], corruption, s, robustness["seed"])[0]) for s in SEVERITIES]
        out[c["name"]] = {"heatmap": robustness_heatmap(robustness, c["name"]), "examples": examples}
    return out
