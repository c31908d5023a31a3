"""Atomic file writes: a reader never sees a half-written file, a crash never loses the old one."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)`, then rename the temporary file over `path`.

    Raises:
        OSError: the file could not be written, including the RuntimeError that torch.save raises on a full disk.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        try:
            write(Path(tmp))
        except RuntimeError as err:
            failure = write_failure(err, path)
            if failure is None:
                raise
            raise failure from None
        _share(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_failure(err: RuntimeError, path: Path) -> OSError | None:
    """The OSError behind a library's RuntimeError while writing `path`, or None when it is not a write failure.

    torch's zip writer and OpenVINO report a failed write ("iostream error", "unexpected pos") as a RuntimeError
    without an errno: it is one when the disk is nearly full or the message is about writing.
    """
    text = str(err).lower()
    full = shutil.disk_usage(Path(path).parent).free < 64 * 2 ** 20
    if not (full or any(word in text for word in ("write", "iostream", "unexpected pos"))):
        return None
    return OSError(errno.ENOSPC if full else errno.EIO, "the disk is full" if full else "writing failed", str(path))


def write_texts_atomic(texts: dict[Path, str]) -> None:
    """Write several files all together or not at all: every temporary file is written (where a full
    disk would fail) before the first is renamed into place."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in texts.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            _share(tmp)
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise


def _share(tmp: str) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are meant to be shared


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n"


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json_text(obj))
