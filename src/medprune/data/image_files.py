"""Images on disk, read on demand: a split of a folder or manifest holds file paths, not pixels.

Indexing an `ImageFiles` reads (and decodes, windows and resizes) just those files, so memory does not
grow with the number of images; training reads each batch in DataLoader workers (`workers`). With a
cache folder each decoded, resized array is kept as `.npy`, keyed by the file's content and the reading
settings, so later epochs and later verbs skip decoding.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from medprune.data.images import ImageReading, native_size, read_image
from medprune.errors import DataError


class ImageFiles:
    """An array-like of uint8 (C, H, W) images read from `files` when indexed."""

    def __init__(self, files: list[Path], reading: ImageReading, size: int, *, cache: Path | None = None,
                 workers: int = 0, dims: int = 2) -> None:
        self.files = [Path(f) for f in files]
        self.reading, self.size, self.dims = reading, size, dims  # dims: 2 images, 3 volumes
        self.cache = Path(cache) if cache is not None else None
        self.workers = workers

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.files), self.reading.channels, *[self.size] * self.dims)

    dtype = np.dtype(np.uint8)

    @property
    def ndim(self) -> int:
        return 2 + self.dims

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self._read(int(index))
        chosen = np.arange(len(self.files))[index]
        if len(chosen) == 0:
            return np.empty((0, *self.shape[1:]), np.uint8)
        return np.stack([self._read(int(i)) for i in chosen])

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self._read(i) for i in range(len(self.files)))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        array = self[:]
        return array if dtype is None else array.astype(dtype)

    def take(self, indices: np.ndarray) -> ImageFiles:
        """The same files at `indices`, still unread."""
        return ImageFiles([self.files[int(i)] for i in np.asarray(indices)], self.reading, self.size,
                          cache=self.cache, workers=self.workers, dims=self.dims)

    @classmethod
    def concat(cls, parts: list[ImageFiles]) -> ImageFiles:
        first = parts[0]
        return cls([f for p in parts for f in p.files], first.reading, first.size, cache=first.cache,
                   workers=first.workers, dims=first.dims)

    def _read(self, i: int) -> np.ndarray:
        path = self.files[i]
        if self.cache is None:
            return read_image(path, self.reading, self.size)
        key = hashlib.sha1(path.read_bytes())
        key.update(json.dumps([self.reading.to_dict(), self.size], sort_keys=True).encode())
        cached = self.cache / f"{key.hexdigest()}.npy"
        if cached.is_file():
            try:
                return np.load(cached)
            except (OSError, ValueError):
                pass  # a damaged cache entry is read again from the file
        image = read_image(path, self.reading, self.size)
        self.cache.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, image)
        os.replace(tmp, cached)  # workers may race on one entry: each writes whole files
        return image


def scan_images(files: list[Path], reading: ImageReading, cache: Path | None = None,
                skip_hint: bool = True) -> tuple[np.ndarray, int, int]:
    """(indices of the files kept, size to read them at, spatial dimensions: 2 images or 3 volumes).

    Every header is read, so a file that is not an image stops here, and images of several sizes without
    `--image-size` are one error. With `skip_unreadable` every file is also decoded once (filling the
    cache) and those that fail are left out and listed on stderr.
    """
    kept, sizes, skipped = [], {}, []
    for i, f in enumerate(files):
        try:
            shape = native_size(f)
        except DataError as err:
            if not reading.skip_unreadable:
                if not skip_hint:  # the command cannot skip files (predict answers for every case it is given)
                    raise
                raise DataError(f"{err}; or pass --skip-unreadable to leave such files out") from None
            skipped.append(str(err))
            continue
        kept.append(i)
        sizes.setdefault(shape, f)
        if len({len(seen) for seen in sizes}) > 1:
            raise DataError(f"the files mix 2D images and 3D volumes ({next(iter(sizes.values())).name}, {f.name}): "
                            "give one kind")
        if reading.size is None and len(sizes) > 1:
            (a, fa), (b, fb) = list(sizes.items())[:2]
            raise DataError(f"images come in more than one size ({_shape(a)} in {fa.name}, {_shape(b)} in "
                            f"{fb.name}): give --image-size N (--volume-size N for volumes) to resize them all")
    if not kept:
        raise DataError(f"none of the {len(files)} images could be read: check the files")
    shape, first = next(iter(sizes.items()))
    dims, size = len(shape), reading.size
    if dims == 3 and reading.channels != 1:
        raise DataError(f"{first.name} is a volume: volumes have one channel; drop --channels")
    if size is None:
        if len(set(shape)) > 1:
            raise DataError(f"images are {_shape(shape)} (e.g. {first.name}), not square: give --image-size N "
                            "(--volume-size N for volumes) to resize them to N px a side")
        size = shape[0]
    if reading.skip_unreadable:
        images = ImageFiles([files[i] for i in kept], reading, size, cache=cache, dims=dims)
        decoded = []
        for position, i in enumerate(kept):
            try:
                images[position]
                decoded.append(i)
            except DataError as err:
                skipped.append(str(err))
        kept = decoded
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable file(s) of {len(files)}", stacklevel=2)
        for line in skipped:
            print(f"skipped: {line}", file=sys.stderr)
        if not kept:
            raise DataError(f"none of the {len(files)} images could be read: check the files")
    return np.array(kept, dtype=np.int64), size, dims


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def files_digest(files: list[Path], root: Path) -> str:
    """md5 of the files' names and sizes: says whether a later verb reads the same files, without reading them."""
    digest = hashlib.md5()
    for f in files:
        digest.update(f"{f.relative_to(root) if f.is_relative_to(root) else f.name}:{f.stat().st_size}\n".encode())
    return digest.hexdigest()
