"""Reading images from disk while training: peak memory and images per second, with and without `--cache`.

Writes N synthetic 256x256 16-bit DICOM files (a brighter square marks the positive class) with a manifest,
then trains smallcnn for one epoch on them at 64 px with `medprune train` in a subprocess, and samples the
memory of that process and its reader workers (proportional set size, summed) every 0.1 s. Three runs per
N: no cache, cache filled (first epoch decodes and writes), cache warm (every image read back from the
cache); then the reading speed alone, in one process. The claim under test: peak memory stays under 2 GB
and does not grow with N (compare 2,500 and 10,000 files).

    .venv/bin/python benchmarks/data_loading.py [--files 2500,10000] [--workers 2] [--workdir /tmp/medprune-io] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _smoke import workdir

SIZE, READ_AT = 256, 64


def write_files(root: Path, n: int) -> Path:
    """n DICOM files (kept between runs; only missing ones are written) and a manifest of the first n."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    (root / "dcm").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, n)
    rows = ["path,label,patient"]
    for i in range(n):
        path = root / "dcm" / f"{i:05d}.dcm"
        rows.append(f"dcm/{path.name},{labels[i]},P{i // 2:05d}")
        if path.is_file():
            continue
        pixels = np.random.default_rng(i).integers(0, 3000, (SIZE, SIZE)).astype(np.uint16)
        pixels[96:160, 96:160] += np.uint16(800 * labels[i])
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
        ds.Rows = ds.Columns = SIZE
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.WindowCenter, ds.WindowWidth = 2000, 4000
        ds.PixelData = pixels.tobytes()
        ds.save_as(path, enforce_file_format=True)
    manifest = root / f"labels-{n}.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def _tree_pss_mb(pid: int) -> float:
    """Proportional set size of `pid` and all its descendants, from /proc (Linux): pages shared by the forked
    reader workers are counted once in total, not once per process as summed RSS would."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def train_once(manifest: Path, out: Path, workers: int, cache: Path | None) -> dict:
    command = [str(Path(sys.executable).parent / "medprune"), "train", "--data", str(manifest), "--image-column", "path",
               "--label-column", "label", "--group-column", "patient", "--positive-class", "1", "--image-size",
               str(READ_AT), "--model", "smallcnn", "--epochs", "1", "--workers", str(workers), "--no-progress",
               "--out", str(out), "--overwrite"]
    if cache is not None:
        command += ["--cache", str(cache)]
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, _tree_pss_mb(process.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - began
    if process.returncode != 0:
        raise SystemExit(f"medprune train failed: {process.stderr.read()[-2000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    n_train = metrics["data"]["n"]["train"]
    epoch_s = metrics["training"]["result"]["wall_time_s"]
    return {"peak_mb": peak, "epoch_s": epoch_s, "train_images_per_s": n_train / epoch_s, "wall_s": wall,
            "auroc": metrics["auroc"]}


def read_speed(root: Path, n: int = 1000) -> None:
    """Images per second read in one process, without training: decoding vs the warm cache."""
    from medprune.data.image_files import ImageFiles
    from medprune.data.images import ImageReading

    files = sorted((root / "dcm").glob("*.dcm"))[:n]
    cache = root / "cache-read"
    shutil.rmtree(cache, ignore_errors=True)
    for label, images in (("decode", ImageFiles(files, ImageReading(READ_AT), READ_AT)),
                          ("fill cache", ImageFiles(files, ImageReading(READ_AT), READ_AT, cache=cache)),
                          ("warm cache", ImageFiles(files, ImageReading(READ_AT), READ_AT, cache=cache))):
        began = time.perf_counter()
        for _ in images:
            pass
        print(f"read only, one process, {label:<10}: {n / (time.perf_counter() - began):>6.0f} images/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="2500,10000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/medprune-data-loading"))
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.files, args.workers, args.workdir = "120", 0, workdir(None, "data-loading")
    print(f"smallcnn, one epoch, {SIZE}x{SIZE} 16-bit DICOM read at {READ_AT} px, {args.workers} reader workers; "
          "peak = proportional set size of the train process and its workers, summed")
    print(f"{'files':>6} {'cache':<7} {'peak MB':>8} {'train img/s':>11} {'epoch s':>8} {'wall s':>7} {'AUROC':>6}")
    for n in (int(v) for v in args.files.split(",")):
        manifest = write_files(args.workdir, n)
        cache = args.workdir / f"cache-{n}"
        shutil.rmtree(cache, ignore_errors=True)
        modes = (("none", None), ("filled", cache), ("warm", cache))
        for label, use in modes[1:2] if args.smoke else modes:  # smoke: one run, through the cache
            row = train_once(manifest, args.workdir / f"run-{n}", args.workers, use)
            print(f"{n:>6} {label:<7} {row['peak_mb']:>8.0f} {row['train_images_per_s']:>11.0f} "
                  f"{row['epoch_s']:>8.1f} {row['wall_s']:>7.1f} {row['auroc']:>6.3f}", flush=True)
    read_speed(args.workdir, n=min(1000, max(int(v) for v in args.files.split(","))))


if __name__ == "__main__":
    main()
