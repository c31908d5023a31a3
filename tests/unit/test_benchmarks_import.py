"""Every benchmark script imports against the current code, so none rots unseen between runs (their `--smoke`
runs, in tests/benchmarks, check that each also runs)."""

import importlib.util
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[2] / "benchmarks"
BENCHMARKS = sorted(p for p in FOLDER.glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_the_benchmark_imports_and_has_a_main(script, monkeypatch):
    monkeypatch.syspath_prepend(str(FOLDER))  # as when run as a script: its helpers (_smoke) import
    spec = importlib.util.spec_from_file_location(f"benchmark_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # top-level imports only: main() is behind `if __name__ == "__main__"`
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"
    assert "--smoke" in script.read_text(), f"{script.name} has no --smoke mode"
