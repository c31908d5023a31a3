"""The HTML page of a data audit: leakage pairs shown side by side, then redundancy per split."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from medprune.data.dataset import Dataset
from medprune.data.images import as_picture
from medprune.records.audit import AuditRecord
from medprune.report.template import render_template

PAIRS_SHOWN = 60


def _png(image: np.ndarray) -> str:
    """A (C, H, W) uint8 image (or a volume's mid-slices) as base64 PNG, enlarged for the page."""
    from PIL import Image

    picture = Image.fromarray(as_picture(image))
    picture = picture.resize((picture.width * 3, picture.height * 3), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _label(dataset: Dataset, split: str, index: int) -> str:
    """A case's class, shown under its picture; a segmentation case has structures, not a class."""
    return "" if dataset.task == "segmentation" else dataset.class_names[dataset.split(split).y[index]]


def render_audit_report(record: dict[str, Any], dataset: Dataset) -> str:
    shown = {}
    if dataset.modality == "image":
        for key, block in AuditRecord.model_validate(record).duplicates.across.items():
            a, b = key.split("-")
            shown[key] = [{"a": p["a"], "b": p["b"], "kind": p["kind"], "img_a": _png(dataset.split(a).x[p["a"]]),
                           "img_b": _png(dataset.split(b).x[p["b"]]),
                           "label_a": _label(dataset, a, p["a"]), "label_b": _label(dataset, b, p["b"])}
                          for p in block.pairs[:PAIRS_SHOWN]]
    return render_template("audit.html.j2", r=record, shown=shown, limit=PAIRS_SHOWN)
