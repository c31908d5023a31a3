"""`predict` with a segmentation model: each input's label map written as NIfTI (volumes, with the input's own
affine) or PNG (images, at the input's own size), into a folder beside the output CSV, and one CSV row per case
with each structure's volume. The rows name the files the user gave; nothing read from inside them."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medprune.records.prediction import PredictionSummary
from medprune._atomic import write_atomic, write_text_atomic
from medprune.data.csv_file import read_csv
from medprune.data.manifest import image_paths
from medprune.data.segmentation import normalise
from medprune.errors import ConfigError, DataError
from medprune.models import Checkpoint
from medprune.segmentation.run import inference_of
from medprune.training.segmentation import predict_logits

VOLUME_SUFFIXES = (".nii", ".nii.gz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _name_of(path: Path) -> str:
    lower = path.name.lower()
    suffix = next((s for s in (*VOLUME_SUFFIXES, *IMAGE_SUFFIXES) if lower.endswith(s)), "")
    return path.name[: len(path.name) - len(suffix)] if suffix else path.stem


def _inputs(data: Path, image_column: str | None) -> tuple[list[str], list[Path]]:
    if data.is_dir():
        files = sorted(f for f in data.rglob("*") if f.name.lower().endswith((*VOLUME_SUFFIXES, *IMAGE_SUFFIXES)))
        return [str(f.relative_to(data)) for f in files], files
    if not image_column:
        raise ConfigError("pass a folder of NIfTI volumes or images, or a CSV with --image-column naming them")
    frame = read_csv(data, "a manifest")
    if image_column not in frame.columns:
        raise DataError(f"column '{image_column}' is not in {data.name}: choose one of {', '.join(map(str, frame.columns))}")
    return [str(p) for p in frame[image_column]], image_paths(frame, image_column, data)


def _read(path: Path, dims: int, size: int | None) -> tuple[np.ndarray, Any, tuple[float, ...]]:
    """The image as (C, *S) float, what is needed to write its mask back (NIfTI image or PNG size), its spacing."""
    if path.name.lower().endswith(VOLUME_SUFFIXES):
        import nibabel as nib

        if dims != 3:
            raise ConfigError(f"{path.name} is a volume but the model segments 2D images: pass images")
        try:
            image = nib.load(str(path))
            array = np.asarray(image.dataobj, dtype=np.float32)
        except Exception as err:  # nibabel raises several kinds for damaged files
            raise DataError(f"{path} is not a readable NIfTI file ({str(err)[:80]}): replace or remove it") from None
        array = np.moveaxis(array, -1, 0) if array.ndim == 4 else array[None]
        return array, image, tuple(float(z) for z in image.header.get_zooms()[:3])
    from PIL import Image

    if dims != 2:
        raise ConfigError(f"{path.name} is a 2D image but the model segments volumes: pass NIfTI volumes")
    try:
        picture = Image.open(path).convert("L")
    except OSError as err:
        raise DataError(f"{path} is not a readable image ({str(err)[:80]}): replace or remove it") from None
    original = picture.size
    if size:
        picture = picture.resize((size, size), Image.BILINEAR)
    return np.asarray(picture, dtype=np.float32)[None], original, (1.0, 1.0)


def _write_mask(path: Path, labels: np.ndarray, source: Any, n_classes: int) -> None:
    if isinstance(source, tuple):  # a PNG: back to the input's own size, structures spread over 0..255
        from PIL import Image

        scale = 255 // max(1, n_classes - 1)
        picture = Image.fromarray((labels * scale).astype(np.uint8)).resize(source, Image.NEAREST)
        write_atomic(path, lambda tmp: picture.save(tmp, format="PNG"))
        return
    import nibabel as nib

    image = nib.Nifti1Image(labels.astype(np.uint8), source.affine)
    image.header.set_zooms(source.header.get_zooms()[:3])
    write_atomic(path, lambda tmp: Path(tmp).write_bytes(gzip.compress(image.to_bytes())))


def predict_segmentation(checkpoint: Checkpoint, data: str | Path, out: str | Path, *, image_column: str | None = None,
                         progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Write each input's label map into `<out stem>_masks/` and `out` (CSV: case, mask file, volume per structure in
    mL, or in thousands of pixels for images without a pixel size)."""
    from rich.progress import track

    data, out = Path(data), Path(out)
    if not data.exists():
        raise DataError(f"{data} does not exist: pass a folder of NIfTI volumes or images, or a CSV manifest")
    names, files = _inputs(data, image_column)
    if not files:
        raise DataError(f"{data} holds no NIfTI volumes or images")
    dims = len(checkpoint.input_shape) - 1
    pre = checkpoint.spec.preprocessing
    size = checkpoint.spec.data.get("image_size")
    inference, model = inference_of(checkpoint), checkpoint.model.eval()
    structures = checkpoint.class_names[1:]
    masks = out.with_name(f"{out.stem}_masks")
    targets = [masks / f"{_name_of(path)}_mask{'.nii.gz' if dims == 3 else '.png'}" for path in files]
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:  # checked before any work: an earlier run's masks are data too
        raise ConfigError(f"{existing[0]} already exists ({len(existing)} masks in {masks.name}): choose another --out "
                          "or pass --overwrite")
    masks.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    unit = "ml" if dims == 3 else "kpx"
    writer.writerow(["case", "mask", *(f"volume_{unit}_{s}" for s in structures)])
    for name, path, mask_path in track(list(zip(names, files, targets)), "segmenting", disable=not progress,
                                       transient=True):
        image, source, spacing = _read(path, dims, size)
        if image.shape[0] != checkpoint.input_shape[0]:
            raise DataError(f"{name} has {image.shape[0]} channels but the model takes {checkpoint.input_shape[0]}")
        x = np.stack([normalise(c, pre.get("normalise", "zscore")) for c in image])[None]
        labels = inference.postprocess(
            predict_logits(model, torch.from_numpy(x), inference).argmax(1)[0].numpy().astype(np.uint8))
        _write_mask(mask_path, labels, source, checkpoint.spec.model.n_classes)
        voxel = float(np.prod(spacing)) / 1000.0
        writer.writerow([name, str(mask_path.relative_to(out.parent)),
                         *(f"{(labels == k).sum() * voxel:.4f}" for k in range(1, len(structures) + 1))])
    write_text_atomic(out, buffer.getvalue())
    return PredictionSummary(task="segmentation", cases=len(files), masks=str(masks), out=str(out)).to_json_dict()
