"""Find a MedMNIST file locally (--data-dir, $MEDPRUNE_DATA, cache) or download and verify it."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from medprune._atomic import write_atomic, write_json_atomic
from medprune.data._medmnist_info import MEDMNIST, file_name, official_url
from medprune.errors import DataError

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """The download cache: $MEDPRUNE_CACHE, else ~/.cache/medprune."""
    return Path(os.environ.get("MEDPRUNE_CACHE", "~/.cache/medprune")).expanduser()


def search_dirs(data_dir: Path | None = None) -> list[Path]:
    """Folders searched for data files, in order."""
    dirs = [Path(data_dir)] if data_dir else []
    if os.environ.get("MEDPRUNE_DATA"):
        dirs.append(Path(os.environ["MEDPRUNE_DATA"]))
    dirs.append(cache_dir())
    return dirs


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verified_md5(path: Path) -> str:
    """md5 of a file, remembered by (path, size, mtime) so multi-GB files are hashed once."""
    memo_path = cache_dir() / "verified.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    if key not in memo:
        memo[key] = md5sum(path)
        try:
            write_json_atomic(memo_path, memo)
        except OSError:  # a read-only cache only costs a re-hash next time
            pass
    return memo[key]


def check_md5(path: Path, accepted: tuple[str, ...]) -> str:
    """Return the file's md5, or raise if it is not one of the accepted values."""
    actual = verified_md5(path)
    if actual not in accepted:
        raise DataError(
            f"{path} has md5 {actual}, expected {' or '.join(accepted)}: the file is corrupt or "
            "truncated; delete it and download it again"
        )
    return actual


def download(url: str, dest: Path, accepted_md5: tuple[str, ...], progress: bool = True) -> Path:
    """Download `url` to `dest` (atomically), checking the md5 before the file appears."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    def fetch(tmp: Path) -> None:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), disable=not progress, transient=True) as bar:
                task = bar.add_task(f"downloading {dest.name}", total=total)
                while block := response.read(_CHUNK):
                    out.write(block)
                    bar.advance(task, len(block))
        actual = md5sum(tmp)
        if actual not in accepted_md5:
            raise DataError(f"downloaded {dest.name} has md5 {actual}, expected "
                            f"{' or '.join(accepted_md5)}: the download was corrupted; run again")

    write_atomic(dest, fetch)
    return dest


def locate_medmnist(flag: str, size: int, data_dir: Path | None = None, *, allow_download: bool = True,
                    base_url: str | None = None) -> Path:
    """Path to a verified MedMNIST file, downloading it into the cache if it is nowhere local.

    `MEDPRUNE_OFFLINE=1` forbids downloads; `MEDPRUNE_MEDMNIST_URL` points at a mirror of the
    Zenodo files (e.g. a hospital's internal copy).

    Raises:
        DataError: the file is absent everywhere and cannot be downloaded, or fails its md5 check.
    """
    info = MEDMNIST[flag]
    name = file_name(flag, size)
    accepted = info.md5[size]
    for folder in search_dirs(data_dir):
        candidate = folder / name
        if candidate.is_file():
            check_md5(candidate, accepted)
            return candidate
    base_url = base_url or os.environ.get("MEDPRUNE_MEDMNIST_URL")
    allow_download = allow_download and os.environ.get("MEDPRUNE_OFFLINE", "") in ("", "0")
    url = f"{base_url.rstrip('/')}/{name}" if base_url else official_url(flag, size)
    dest = cache_dir() / name
    places = "--data-dir, $MEDPRUNE_DATA or " + str(cache_dir())
    if not allow_download:
        raise DataError(f"{name} is not in {places} and downloads are off: download it from "
                        f"{official_url(flag, size)} into one of those folders, or set MEDPRUNE_DATA=DIR "
                        "to the folder that holds it")
    try:
        return download(url, dest, accepted)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(
            f"{name} is not in {places} and could not be downloaded ({reason}): "
            f"download it from {official_url(flag, size)} into one of those folders, "
            "or set MEDPRUNE_DATA=DIR to the folder that holds it"
        ) from None
