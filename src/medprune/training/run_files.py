"""The files a finished training run leaves in its run directory (model.pt is written before it is evaluated)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medprune._atomic import write_json_atomic, write_text_atomic

STATE_FILE = "train_state.pt"  # an unfinished run's resume state, beside its outputs


def write_training_files(out: Path, record: dict[str, Any], history: list[dict[str, Any]], summary: str,
                         state_file: str) -> None:
    """metrics.json, train_log.jsonl (one line per epoch) and summary.md, each whole; then the resume state goes."""
    write_json_atomic(out / "metrics.json", record)
    write_text_atomic(out / "train_log.jsonl", "".join(json.dumps(r) + "\n" for r in history))
    write_text_atomic(out / "summary.md", summary)
    (out / state_file).unlink(missing_ok=True)
