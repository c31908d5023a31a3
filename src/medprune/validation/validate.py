"""The `validate` verb: is each compressed candidate as safe as the reference, on the same cases?"""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np

from medprune import __version__
from medprune.data.dataset import Dataset
from medprune.errors import ConfigError, DataError
from medprune.evaluation.calibration import fit_temperature
from medprune.evaluation.efficiency import model_counts, serialized_sizes
from medprune.evaluation.evaluate import check_model_matches_data, validation_threshold
from medprune.evaluation.metrics import choose_threshold
from medprune.evaluation.predict import check_finite, predict_proba
from medprune.models.checkpoint import Checkpoint
from medprune.records.base import set_fields
from medprune.records.validation import ClassificationValidation, RobustnessSummary
from medprune.validation.judge import judge
from medprune.validation.paired_metrics import Predictions
from medprune.validation.protocol import Protocol
from medprune.data.corruptions import choose, kind_of
from medprune.validation.robustness import Model, audit_robustness


def sha256(path: Path | None) -> str:
    if path is None or not Path(path).is_file():
        return ""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_comparable(reference: Checkpoint, candidate: Checkpoint, dataset: Dataset) -> None:
    """Refuse pairs that do not answer the same clinical question on the same inputs."""
    check_model_matches_data(reference, dataset)
    name = _display_name(candidate)
    if list(candidate.class_names) != list(reference.class_names):
        raise DataError(f"candidate {name} predicts classes {candidate.class_names} but the reference predicts "
                        f"{reference.class_names}: compare models trained for the same task")
    if tuple(candidate.input_shape) != tuple(reference.input_shape):
        raise DataError(f"candidate {name} takes inputs of shape {tuple(candidate.input_shape)} but the reference "
                        f"takes {tuple(reference.input_shape)}: compare models of the same input")


def _display_name(checkpoint: Checkpoint) -> str:
    """A run directory's name, or the file's name for a loose model file such as an exported .onnx."""
    if checkpoint.path is None:
        return checkpoint.name
    return checkpoint.path.name if checkpoint.path.name != "model.pt" else checkpoint.path.parent.name


@dataclass(frozen=True)
class ValidationReport:
    """The JSON record, and the per-case arrays the report's curves are drawn from."""

    record: ClassificationValidation
    y_true: np.ndarray
    reference_probs: np.ndarray
    candidate_probs: list[np.ndarray]
    images: np.ndarray | None = None  # test images (N, C, H, W) for the exemplar gallery

    @property
    def verdicts(self) -> dict[str, str]:
        return self.record.verdicts

    def to_dict(self) -> dict[str, Any]:
        return self.record.to_json_dict()

    def save(self, out: str | Path, *, intended_use: str | None = None) -> Path:
        """Write `validation.json` and `report.html` into `out`, both or neither; returns the folder."""
        from medprune._atomic import json_text, write_texts_atomic
        from medprune.report.html import DEFAULT_INTENDED_USE, render_validation_report

        out = Path(out)
        html = render_validation_report(self, intended_use=intended_use or DEFAULT_INTENDED_USE)
        # A JSON verdict without its report (or the reverse) must never be left behind.
        write_texts_atomic({out / "validation.json": json_text(self.to_dict()), out / "report.html": html})
        return out


def validate(reference: Checkpoint, candidates: list[Checkpoint], dataset: Dataset, protocol: Protocol, *,
             subgroup_values: dict[str, np.ndarray] | None = None, progress: bool = False) -> ValidationReport:
    """Compare every candidate with the reference on the same test cases, per the protocol.

    Raises:
        DataError / ConfigError: incomparable models, a bad protocol, unknown subgroup columns.
    """
    protocol.check(dataset.n_classes)
    if protocol.robustness and dataset.modality == "image":
        choose(kind_of(dataset.input_shape), protocol.robustness)  # a misspelt corruption stops before any work
    for candidate in candidates:
        check_comparable(reference, candidate, dataset)
    test, pre = dataset.split(protocol.split), dataset.preprocessing
    subgroup_values = dict(subgroup_values or {})
    for column in protocol.subgroups:
        if column not in subgroup_values:
            if column not in test.meta:
                known = ", ".join(test.meta) or "none (load the CSV with --subgroup, or pass --subgroup-file)"
                raise DataError(f"subgroup column '{column}' is not available: known subgroup columns are {known}")
            subgroup_values[column] = test.meta[column]
    threshold = reference.threshold if reference.threshold is not None else validation_threshold(reference, dataset)
    ref = Predictions(_checked_proba(reference, test, pre), threshold)
    names = unique_names(candidates)
    own_threshold = _threshold_rule(protocol, reference, dataset, threshold)
    cands = {name: Predictions(_checked_proba(c, test, pre), own_threshold(c)) for name, c in zip(names, candidates)}
    temperatures = None
    if protocol.recalibrate:
        val = dataset.split("val")
        temperatures = {key: fit_temperature(val.y, _checked_proba(model, val, pre))
                        for key, model in [("reference", reference), *zip(names, candidates)]}
    record = judge(test.y, ref, cands, protocol, list(dataset.class_names), subgroup_values=subgroup_values,
                   temperatures=temperatures)
    for entry, checkpoint in zip(record.candidates, candidates):
        set_fields(entry, path=str(checkpoint.path), sha256=sha256(checkpoint.path), architecture=checkpoint.name,
                   efficiency=_efficiency(checkpoint, dataset))
    set_fields(record.reference, name=_display_name(reference), path=str(reference.path),
               sha256=sha256(reference.path), architecture=reference.name,
               efficiency=_efficiency(reference, dataset), spec_model=reference.spec.model.model_dump())
    record.data = dataset.describe()
    if protocol.robustness:
        record.robustness = _robustness(reference, threshold, dict(zip(names, candidates)), own_threshold, dataset,
                                        protocol, progress)
        for entry in record.candidates:
            summary = next(c for c in record.robustness["candidates"] if c["name"] == entry.name)
            entry.robustness = RobustnessSummary(**{k: summary[k] for k in RobustnessSummary.model_fields})
    record.versions = software_versions()
    images = test.x if dataset.modality == "image" else None
    return ValidationReport(record, test.y, ref.probs, [c.probs for c in cands.values()], images)


def _robustness(reference: Checkpoint, threshold: float | None, candidates: dict[str, Checkpoint],
                own_threshold: Callable[[Checkpoint], float | None], dataset: Dataset, protocol: Protocol,
                progress: bool) -> dict:
    if dataset.modality != "image":
        raise ConfigError("--robustness corrupts images and volumes; this is table data: leave it out")
    test = dataset.split(protocol.split)
    return audit_robustness(Model("reference", reference, threshold),
                            [Model(name, c, own_threshold(c)) for name, c in candidates.items()], test,
                            dataset.preprocessing, input_shape=dataset.input_shape, corruptions=protocol.robustness,
                            margin=protocol.margin_for("auroc"), alpha=protocol.alpha, n_resamples=protocol.n_resamples,
                            seed=protocol.seed, progress=progress)


def unique_names(candidates: list[Checkpoint]) -> list[str]:
    """Display names, numbered where two candidates share one (e.g. two run folders named 'pruned')."""
    names = [_display_name(c) for c in candidates]
    return [f"{n} ({i + 1})" if names.count(n) > 1 else n for i, n in enumerate(names)]


def _checked_proba(checkpoint: Checkpoint, split: Any, preprocessing: Any) -> np.ndarray:
    return check_finite(predict_proba(checkpoint.model, split, preprocessing), _display_name(checkpoint))


def _threshold_rule(protocol: Protocol, reference: Checkpoint, dataset: Dataset,
                    threshold: float | None) -> Callable[[Checkpoint], float | None]:
    """The threshold each candidate is judged at, by the protocol's pre-specified rule (never chosen on test)."""
    if protocol.candidate_threshold == "reference" or threshold is None:
        return lambda candidate: threshold
    val, pre = dataset.split("val"), dataset.preprocessing
    # match-sensitivity: the reference's validation sensitivity at its threshold, computed once
    target = float(np.mean(_checked_proba(reference, val, pre)[val.y == 1, 1] >= threshold))
    return lambda candidate: choose_threshold(val.y, _checked_proba(candidate, val, pre)[:, 1],
                                              target_sensitivity=max(target, 1e-9))


def _efficiency(checkpoint: Checkpoint, dataset: Dataset) -> dict[str, Any]:
    params, nonzero, macs = model_counts(checkpoint.model, tuple(dataset.input_shape))
    size, size_gz = serialized_sizes(checkpoint.model, checkpoint.path)
    return {"params": params, "nonzero_params": nonzero, "macs": macs, "size_bytes": size, "size_gzip_bytes": size_gz}


def software_versions() -> dict[str, str]:
    """The versions a result depends on, recorded beside it."""
    from importlib.metadata import version

    import numpy
    import onnxruntime
    import scipy
    import sklearn
    import torch

    return {"medprune": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "openvino": version("openvino"),  # read, not imported
            "numpy": numpy.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__, "platform": platform.platform()}
