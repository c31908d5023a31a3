"""Shared fixtures: small synthetic datasets with a learnable signal, and the real shared data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def make_images(n: int, size: int, channels: int, n_classes: int, rng: np.random.Generator):
    """Images whose class sets the brightness of a central square: learnable in a few steps."""
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    x = rng.integers(0, 60, size=(n, size, size, channels) if channels == 3 else (n, size, size))
    c = size // 4
    for k in range(n_classes):
        x[y == k, c:-c, c:-c] += 40 * k + 40
    return np.clip(x, 0, 255).astype(np.uint8), y.reshape(-1, 1).astype(np.uint8)


def write_npz(path: Path, size: int = 16, channels: int = 1, n_classes: int = 2,
              counts=(64, 32, 32), seed: int = 0, **override) -> Path:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(("train", "val", "test"), counts):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, size, channels, n_classes, rng)
    arrays.update(override)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def tiny_npz(tmp_path: Path) -> Path:
    return write_npz(tmp_path / "tiny.npz")


@pytest.fixture
def tiny_table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 120
    risk = rng.normal(size=n)
    lines = ["Age,Sex,Pain,Chol,Outcome"]
    for i in range(n):
        sex = "M" if i % 2 else "F"
        pain = ["ASY", "ATA", "NAP"][i % 3]
        lines.append(f"{50 + 10 * risk[i]:.1f},{sex},{pain},{200 + rng.normal() * 30:.0f},{int(risk[i] > 0)}")
    path = tmp_path / "table.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache or the network from tests."""
    monkeypatch.setenv("MEDPRUNE_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("MEDPRUNE_OFFLINE", "1")


def shared_data_dir() -> Path | None:
    folder = os.environ.get("MEDPRUNE_DATA")
    return Path(folder) if folder and (Path(folder) / "pneumoniamnist.npz").is_file() else None


needs_shared_data = pytest.mark.skipif(shared_data_dir() is None,
                                       reason="set MEDPRUNE_DATA to the folder with the shared real data")


def train_tiny(root: Path, name: str = "tiny", epochs: int = 3, **npz_options) -> Path:
    """Train a small smallcnn on synthetic images through the CLI; returns its run directory."""
    from typer.testing import CliRunner

    from medprune.cli import app

    npz = write_npz(root / f"{name}.npz", **npz_options)
    out = root / name
    result = CliRunner().invoke(app, ["train", "--data", str(npz), "--out", str(out), "--epochs", str(epochs),
                                      "--batch-size", "16", "--no-progress"])
    assert result.exit_code == 0, result.output
    return out


def write_dicom(path: Path, pixels: np.ndarray, *, compress: str | None = None, **header) -> Path:
    """A single-frame DICOM file of `pixels` (2D uint8 / uint16 / int16, or (H, W, 3) uint8 RGB).

    compress="jpeg2000" stores the frame JPEG 2000 lossless (encoded by Pillow, decoded by pylibjpeg), "jpeg"
    baseline JPEG (lossy, decoded by Pillow);
    `header` sets any further attributes (Manufacturer, PatientID, RescaleSlope, WindowCenter, ...).
    """
    import io

    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import (JPEG2000Lossless, ExplicitVRLittleEndian, JPEGBaseline8Bit, SecondaryCaptureImageStorage,
                             generate_uid)

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = {"jpeg2000": JPEG2000Lossless, "jpeg": JPEGBaseline8Bit}.get(compress,
                                                                                               ExplicitVRLittleEndian)
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 3 if pixels.ndim == 3 else 1
    ds.PhotometricInterpretation = "RGB" if pixels.ndim == 3 else "MONOCHROME2"
    if pixels.ndim == 3:
        ds.PlanarConfiguration = 0
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    for key, value in header.items():
        setattr(ds, key, value)
    if compress:
        buffer = io.BytesIO()
        if compress == "jpeg":
            Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
        else:
            Image.fromarray(pixels).save(buffer, "JPEG2000", irreversible=False, num_resolutions=2, no_jp2=True)
        ds.PixelData = encapsulate([buffer.getvalue()])
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_decathlon(root: Path, n: int = 24, shape: tuple[int, int, int] = (14, 18, 12), seed: int = 0) -> Path:
    """A tiny Decathlon task: bright blobs on noise, label 1 the blob's front half and 2 its back half; cases
    differ in shape (cropped volumes do) and in intensity range (normalised per case)."""
    import json

    import nibabel as nib

    rng = np.random.default_rng(seed)
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    entries = []
    for i in range(n):
        size = tuple(s - int(rng.integers(0, 3)) for s in shape)
        grid = np.indices(size).astype(np.float32)
        centre = [rng.uniform(s * 0.35, s * 0.65) for s in size]
        inside = sum(((g - c) / 3.5) ** 2 for g, c in zip(grid, centre)) < 1
        label = np.where(inside, np.where(grid[0] < centre[0], 1, 2), 0).astype(np.uint8)
        image = (rng.normal(0, 0.3, size) + 2.0 * inside) * rng.uniform(50, 500)
        affine = np.diag([1.0, 1.0, 1.0, 1.0])
        nib.save(nib.Nifti1Image(image.astype(np.float32), affine), root / "imagesTr" / f"case_{i:03d}.nii.gz")
        nib.save(nib.Nifti1Image(label, affine), root / "labelsTr" / f"case_{i:03d}.nii.gz")
        entries.append({"image": f"./imagesTr/case_{i:03d}.nii.gz", "label": f"./labelsTr/case_{i:03d}.nii.gz"})
    (root / "dataset.json").write_text(json.dumps({"name": "Blobs", "modality": {"0": "MRI"},
                                                   "labels": {"0": "background", "1": "front", "2": "back"},
                                                   "training": entries}))
    return root


def write_mask_manifest(root: Path, n: int = 30, patient=lambda i: f"p{i // 2}", split=lambda i: "train") -> Path:
    """A tiny manifest of 40 x 40 PNG images and 0 / 255 masks (a bright bar), with site (b: the first 8), patient
    and split columns."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = ["image,mask,site,patient,split"]
    for i in range(n):
        mask = np.zeros((40, 40), np.uint8)
        mask[10:25, 8 + i % 5:30] = 255
        image = (rng.normal(100, 20, (40, 40)) + (mask > 0) * 80).clip(0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
        rows.append(f"images/{i}.png,masks/{i}.png,{'b' if i < 8 else 'a'},{patient(i)},{split(i)}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


@pytest.fixture
def tiny_decathlon(tmp_path: Path) -> Path:
    return write_decathlon(tmp_path / "blobs")
