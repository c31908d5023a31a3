"""The HTML page of a data audit: leakage pairs shown side by side, then redundancy per split."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

from medprune.data.dataset import Dataset
from medprune.data.images import as_picture

PAIRS_SHOWN = 60


def _png(image: np.ndarray) -> str:
    """A (C, H, W) uint8 image (or a volume's mid-slices) as base64 PNG, enlarged for the page."""
    from PIL import Image

    picture = Image.fromarray(as_picture(image))
    picture = picture.resize((picture.width * 3, picture.height * 3), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_audit_report(record: dict[str, Any], dataset: Dataset) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    shown = {}
    if dataset.modality == "image":
        for key, block in record["duplicates"]["across"].items():
            a, b = key.split("-")
            shown[key] = [{"a": p["a"], "b": p["b"], "kind": p["kind"], "img_a": _png(dataset.split(a).x[p["a"]]),
                           "img_b": _png(dataset.split(b).x[p["b"]]),
                           "label_a": dataset.class_names[dataset.split(a).y[p["a"]]],
                           "label_b": dataset.class_names[dataset.split(b).y[p["b"]]]}
                          for p in block["pairs"][:PAIRS_SHOWN]]
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("audit.html.j2").render(r=record, shown=shown, limit=PAIRS_SHOWN)
