"""What a run-directory verb hands back: its JSON record, read-only, with `to_dict()` for a plain copy."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any


@dataclass(frozen=True)
class RunResult(Mapping):
    """The record a verb wrote (metrics.json, validation.json, ...): `result["auroc"]`, `result.to_dict()`."""

    record: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.record)

    def __len__(self) -> int:
        return len(self.record)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.record))


def returns_result(verb: Callable[..., Mapping[str, Any]]) -> Callable[..., RunResult]:
    """Wrap a verb that returns its record so that it returns a `RunResult`."""
    @wraps(verb)
    def run(*args: Any, **kwargs: Any) -> RunResult:
        return RunResult(verb(*args, **kwargs))

    return run
