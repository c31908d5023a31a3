"""Every benchmark runs end to end in its `--smoke` mode (tiny data and budgets), as `make test` checks, so a
change that breaks a benchmark is seen the day it is made, not the day the figures are needed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[2] / "benchmarks"
BENCHMARKS = sorted(p for p in FOLDER.glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_the_benchmark_runs_in_smoke_mode(script, tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path), MEDPRUNE_CACHE=str(tmp_path / "cache"), MEDPRUNE_OFFLINE="1")
    result = subprocess.run([sys.executable, str(script), "--smoke"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=600)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    assert result.stdout.strip(), f"{script.name} --smoke printed no figures"
