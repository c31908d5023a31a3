"""Run a chain of compression steps, each on the previous step's output, timing each."""

from __future__ import annotations

import time
from typing import Any

from medprune.compress.technique import TECHNIQUES, Context, StepOptions
from medprune.errors import ConfigError
from medprune.models.checkpoint import Checkpoint


def check_chain(steps: list[StepOptions]) -> None:
    """A step that produces an ONNX model (quantize) can only be the last one."""
    if not steps:
        raise ConfigError("a chain needs at least one step")
    for options in steps[:-1]:
        if TECHNIQUES.get(options.technique).produces_onnx:
            raise ConfigError(f"{options.technique} produces an ONNX Runtime model, so it must be the last step")


def run_chain(steps: list[StepOptions], model: Checkpoint, ctx: Context) -> tuple[Checkpoint, list[dict[str, Any]]]:
    """Apply every step in turn; returns the final model and one record per step (with wall time)."""
    check_chain(steps)
    records = []
    for i, options in enumerate(steps, 1):
        technique = TECHNIQUES.get(options.technique)(options)
        ctx.log(f"step {i}/{len(steps)}: {technique.name}")
        began = time.perf_counter()
        model = technique.apply(model, ctx)
        records.append({**technique.record(), "wall_time_s": time.perf_counter() - began})
    return model, records
