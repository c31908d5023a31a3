"""Output paths: checked before any work starts, and claimed by one run at a time.

A run that would fail at its last step because `--out` is a file, sits under a file, is read-only or is
being written by another run stops at once with one line, before it spends minutes of training. An output
never replaces the command's own inputs, and never an existing model or data file unless forced. Locks are
taken on the resolved path (a symlink or `..` names the same folder) in a folder of their own, so none is
left beside the outputs.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
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


# Files a model or data set lives in: an existing one is never replaced unless the user forces it.
PROTECTED_SUFFIXES = (".pt", ".pth", ".ckpt", ".onnx", ".xml", ".bin", ".safetensors", ".npz", ".npy", ".nii",
                      ".nii.gz", ".mha", ".nrrd", ".dcm", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".h5")


def check_not_an_input(path: Path, kind: OutputKind, inputs: list[Path], forced: bool) -> None:
    """Refuse an output that would replace one of the command's inputs, or an existing model or data file.

    Raises:
        ConfigError: naming the file and the fix.
    """
    target = Path(path).resolve()
    for given in inputs:
        source = Path(given).resolve()
        read = [source, source / "model.pt"] if source.is_dir() else [source]  # a run directory's model is read
        if target in read:
            raise ConfigError(f"{path} is also an input of this command: writing there would destroy it; choose "
                              "another output path")
        model_folder = source.is_file() and source.suffix in (".pt", ".onnx", ".xml") and target == source.parent
        if kind == "dir" and model_folder:
            raise ConfigError(f"--out {path} is the folder of the input model {given}: writing there would replace "
                              "it; choose another --out")
    if kind == "file" and target.is_file() and target.name.lower().endswith(PROTECTED_SUFFIXES) and not forced:
        raise ConfigError(f"{path} already exists and holds a model or data file: choose another output path, or "
                          "pass --overwrite to replace it")


def _lock_file(path: Path) -> Path:
    """Where the lock of an output lives: one file per resolved path, outside the user's folders."""
    key = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:32]
    folder = Path(tempfile.gettempdir()) / "medprune-locks"
    folder.mkdir(mode=0o1777, exist_ok=True)
    return folder / f"{key}.lock"


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
    with open(_lock_file(path), "a") as handle:
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
def claim_outputs(paths: dict[Path, OutputKind], inputs: list[Path] | None = None,
                  forced: bool = False) -> Iterator[None]:
    """Claim several outputs together (all of them checked before any lock is taken)."""
    for path, kind in paths.items():
        check_output(path, kind)
        check_not_an_input(path, kind, inputs or [], forced)
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
             errno.ENOENT: "it does not exist: check the path",
             errno.EIO: "writing failed; the disk may be full: free space or choose another path"}
    verb = "cannot write" if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO) else "cannot access"
    return f"{verb} {where}: {hints.get(err.errno, err.strerror or str(err))}"
