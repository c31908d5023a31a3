"""The pruning summary says slower and larger plainly instead of '0.21x faster'."""

from medprune.records.metrics import ClassificationMetrics
from medprune.report.summary import render_pruning_summary

FIGURES = {"split": "test", "task": "binary", "n": 10, "auroc": 0.9, "auprc": 0.9, "accuracy": 0.8,
           "balanced_accuracy": 0.8, "sensitivity": 0.8, "specificity": 0.8, "ppv": 0.8, "npv": 0.8, "threshold": 0.5,
           "threshold_method": "youden (val)", "ece": 0.05, "brier": 0.1, "class_names": ["normal", "pneumonia"]}


def _record(dense_ms: float, pruned_ms: float, dense_bytes: int, pruned_bytes: int) -> ClassificationMetrics:
    def eff(ms, size):
        return {"params": 100, "nonzero_params": 100, "macs": 1000, "size_bytes": size, "size_gzip_bytes": size,
                "latency_ms": {"batch1": ms, "batch32": ms}}

    pruning = {"criterion": "taylor", "granularity": "structured", "target": "macs=0.5", "schedule": "oneshot",
               "achieved": {"macs_ratio": 0.5, "params_ratio": 0.5, "sparsity": 0.0}, "steps": [{}],
               "wall_time_s": 1.0}
    return ClassificationMetrics.model_validate({
        **FIGURES, "reference": {**FIGURES, "efficiency": eff(dense_ms, dense_bytes)}, "pruning": pruning,
        "model": {"name": "smallcnn"}, "data": {"name": "tiny"}, "efficiency": eff(pruned_ms, pruned_bytes)})


def test_a_slower_larger_model_is_called_slower_and_larger():
    text = render_pruning_summary(_record(dense_ms=2.0, pruned_ms=9.5, dense_bytes=1000, pruned_bytes=1500))
    assert "4.75x slower" in text and "1.50x larger" in text and "faster" not in text


def test_a_faster_smaller_model_is_called_faster_and_smaller():
    text = render_pruning_summary(_record(dense_ms=8.0, pruned_ms=2.0, dense_bytes=1000, pruned_bytes=250))
    assert "4.00x faster" in text and "4.00x smaller" in text
