"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

from tests.conftest import needs_shared_data

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Python"):]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _run(code: str, cwd: Path, monkeypatch) -> None:
    monkeypatch.chdir(cwd)
    exec(compile(code, "README.md", "exec"), {})


@needs_shared_data
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_your_own_monai_model_is_pruned_fine_tuned_and_judged(tmp_path, monkeypatch):
    _run(_python_blocks()[0], tmp_path, monkeypatch)
    assert (tmp_path / "runs" / "my-resnet18" / "report.html").is_file()


def test_the_verdict_on_your_own_predictions(tmp_path, monkeypatch):
    _run(_python_blocks()[1], tmp_path, monkeypatch)
    assert (tmp_path / "runs" / "my-validation" / "validation.json").is_file()
    assert (tmp_path / "runs" / "my-validation" / "report.html").is_file()
