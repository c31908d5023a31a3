"""The Python examples of the README and of the guide to your own models run as written."""

import re
from pathlib import Path

import pytest

from tests.conftest import needs_shared_data

ROOT = Path(__file__).resolve().parents[2]


def _python_blocks(page: str) -> list[str]:
    text = (ROOT / page).read_text()
    section = text[text.index("## Python"):]
    end = section.find("\n## ", 1)
    return re.findall(r"```python\n(.*?)```", section if end < 0 else section[:end], re.S)


def _run(code: str, cwd: Path, monkeypatch, page: str) -> None:
    monkeypatch.chdir(cwd)
    exec(compile(code, page, "exec"), {})


@needs_shared_data
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_your_own_monai_model_is_pruned_fine_tuned_and_judged(tmp_path, monkeypatch):
    page = "docs/guides/own-models.md"
    _run(_python_blocks(page)[0], tmp_path, monkeypatch, page)
    assert (tmp_path / "runs" / "my-resnet18" / "report.html").is_file()


@pytest.mark.parametrize("page", ["README.md", "docs/guides/own-models.md"])
def test_the_verdict_on_your_own_predictions(page, tmp_path, monkeypatch):
    _run(_python_blocks(page)[-1], tmp_path, monkeypatch, page)
    assert (tmp_path / "runs" / "my-validation" / "validation.json").is_file()
    assert (tmp_path / "runs" / "my-validation" / "report.html").is_file()


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
