"""Output paths: checked before any work starts, and claimed by one run at a time.

A run that would fail at its last step because `--out` is a file, sits under a file, is read-only or is
being written by another run stops at once with one line, before it spends minutes of training.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Literal

from medprune.errors import ConfigError

OutputKind = Literal["dir", "file"]


def check_output(path: Path, kind: OutputKind) -> None:
    """Refuse an output path that cannot be written, naming the problem and the fix."""
    path = Path(path)
    if kind == "dir" and path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} is a file, not a folder: choose a folder path")
    if kind == "file" and path.is_dir():
        raise ConfigError(f"{path} is a folder: give a file path, such as {path / 'out.json'}")
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"cannot write {path}: {ancestor} is a file, not a folder; choose another path")
    target = path if path.exists() else ancestor
    if not os.access(target, os.W_OK | (os.X_OK if target.is_dir() else 0)):
        raise ConfigError(f"cannot write {path}: {target} is not writable; choose another path or fix its permissions")


@contextmanager
def claim_output(path: Path, kind: OutputKind) -> Iterator[None]:
    """Check `path`, then hold an exclusive lock on it until the block ends.

    Raises:
        ConfigError: the path cannot be written, or another run holds it.
    """
    import fcntl

    path = Path(path)
    check_output(path, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.parent / f".{path.name}.medprune-lock"  # beside the output, so the output's contents stay its own
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"another medprune run is writing {path}: wait for it to finish or choose another "
                              "--out") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def claim_outputs(paths: dict[Path, OutputKind]) -> Iterator[None]:
    """Claim several outputs together (all of them checked before any lock is taken)."""
    for path, kind in paths.items():
        check_output(path, kind)
    with ExitStack() as stack:
        for path, kind in paths.items():
            stack.enter_context(claim_output(path, kind))
        yield


def describe_os_error(err: OSError) -> str:
    """One line for a file-system failure met while writing results."""
    where = err.filename or "the output"
    hints = {errno.ENOSPC: "the disk is full: free space or choose another --out",
             errno.EDQUOT: "the disk quota is used up: free space or choose another --out",
             errno.EACCES: "permission denied: choose another path or fix its permissions",
             errno.EPERM: "permission denied: choose another path or fix its permissions",
             errno.EROFS: "the file system is read-only: choose another path",
             errno.ENOTDIR: "part of the path is a file, not a folder: choose another path",
             errno.EISDIR: "it is a folder: give a file path",
             errno.ENOENT: "it does not exist: check the path"}
    return f"cannot access {where}: {hints.get(err.errno, err.strerror or str(err))}"
