"""One image file into the uint8 array every verb works on: PNG / JPEG / BMP / TIFF through Pillow, DICOM
through pydicom (JPEG 2000 and RLE through the pylibjpeg plugins, baseline JPEG through Pillow).

Intensities, in this order (recorded with the model, so every later verb and `predict` read alike):
1. DICOM values pass through the modality LUT (RescaleSlope / RescaleIntercept, e.g. to Hounsfield units).
2. A window maps them to 0..255: `--window center,width` if given, else the DICOM file's own VOI LUT or
   window, else an 8-bit image is kept as it is and a deeper one (12- or 16-bit) is stretched from its
   own minimum to its maximum.
3. MONOCHROME1 (white = low values) is inverted, so bone is bright in every file.
4. The image is resized to `size` px, and only then rounded to 8 bits: a 16-bit image keeps its
   precision until normalisation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medprune.errors import ConfigError, DataError

PILLOW_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
DICOM_SUFFIXES = {".dcm", ".dicom"}
NIFTI_SUFFIXES = (".nii", ".nii.gz")  # 3D volumes, through nibabel
IMAGE_SUFFIXES = PILLOW_SUFFIXES | DICOM_SUFFIXES


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES or is_nifti(path)


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


@dataclass(frozen=True)
class ImageReading:
    """How files become arrays: size (None: the files' own size, which must be one), channels, window."""

    size: int | None = None
    channels: int = 1  # 1 grey, 3 RGB
    window: tuple[float, float] | None = None  # (center, width), in rescaled units (HU for CT)
    skip_unreadable: bool = False

    def __post_init__(self) -> None:
        if self.size is not None and not 8 <= self.size <= 1024:
            raise ConfigError(f"--image-size must be between 8 and 1024 px, got {self.size}")
        if self.channels not in (1, 3):
            raise ConfigError(f"--channels must be 1 (grey) or 3 (RGB), got {self.channels}")
        if self.window is not None and not self.window[1] > 0:
            raise ConfigError(f"--window center,width needs a positive width, got {self.window[1]:g}")

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def parse_window(text: str | None) -> tuple[float, float] | None:
    """'40,400' -> (40.0, 400.0)."""
    if text is None:
        return None
    try:
        center, width = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--window takes center,width (e.g. 40,400 for a CT soft-tissue window), got '{text}'") from None
    return center, width


def is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    with open(path, "rb") as f:  # DICOM Part 10: 128-byte preamble, then "DICM"
        return f.read(132)[128:] == b"DICM"


def native_size(path: Path) -> tuple[int, ...]:
    """(height, width), or (depth, height, width) of a NIfTI volume, from the file header without decoding."""
    try:
        if is_nifti(path):
            import nibabel

            shape = tuple(int(n) for n in nibabel.load(path).shape)
            shape = shape[:3] if len(shape) == 4 and shape[3] == 1 else shape
            if len(shape) != 3:
                raise DataError(f"{path} holds a {len(shape)}D array {shape}: a volume model takes one 3D volume per "
                                "file; split time series or channels into files")
            return shape
        if is_dicom(path):
            import pydicom

            header = pydicom.dcmread(path, stop_before_pixels=True,
                                     specific_tags=["Rows", "Columns", "NumberOfFrames"])
            _check_single_frame(header, path)
            return int(header.Rows), int(header.Columns)
        from PIL import Image

        with Image.open(path) as image:
            return image.height, image.width
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"{path} cannot be read as an image ({type(err).__name__}): replace or remove the file") from None


def _check_single_frame(ds, path: Path) -> None:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise DataError(f"{path} is a multi-frame DICOM ({frames} frames): a 2D model takes one image per file; "
                        "split the frames into files, or use a 3D model")


def _dicom_values(path: Path, window: tuple[float, float] | None) -> tuple[np.ndarray, bool, bool]:
    """(values, already 0..255, MONOCHROME1) of a DICOM file's single frame."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    import pydicom.multival
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as err:
        raise DataError(f"{path} is not a readable DICOM file ({type(err).__name__}): replace or remove it") from None
    if "PixelData" not in ds:
        raise DataError(f"{path} is a DICOM file without pixel data (a report or structured document): remove it from "
                        "the data")
    _check_single_frame(ds, path)
    try:
        stored = ds.pixel_array
    except Exception as err:  # no plugin for the transfer syntax, or a damaged stream
        syntax = ds.file_meta.get("TransferSyntaxUID")
        name = getattr(syntax, "name", str(syntax))
        raise DataError(f"{path}: pixel data compressed as {name} cannot be decoded ({type(err).__name__}): install "
                        "a decoder for it (pylibjpeg-libjpeg for lossless JPEG) or convert the file") from None
    if stored.ndim == 3:  # colour: pydicom has already converted YBR to RGB
        return stored.astype(np.uint8), True, False
    monochrome1 = ds.get("PhotometricInterpretation", "") == "MONOCHROME1"
    values = apply_modality_lut(stored, ds).astype(np.float64)
    _check_finite(values, path)
    if window is not None:
        return _apply_window(values, *window), False, monochrome1
    if "VOILUTSequence" in ds:
        out = apply_voi_lut(values, ds, index=0, prefer_lut=True).astype(np.float64)
        return out / (2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1) * 255.0, False, monochrome1
    if "WindowCenter" in ds and "WindowWidth" in ds:
        center, width = (float(v[0] if isinstance(v, pydicom.multival.MultiValue) else v)
                         for v in (ds.WindowCenter, ds.WindowWidth))
        return _apply_window(values, center, width), False, monochrome1
    if stored.dtype == np.uint8 and np.array_equal(values, stored):  # plain 8-bit: read exactly like a PNG
        return stored, True, monochrome1
    return _stretch(values), False, monochrome1


def _apply_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM's linear VOI function (PS3.3 C.11.2.1.2.1) onto 0..255."""
    if width <= 1:
        return np.where(values > center - 0.5, 255.0, 0.0)
    return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0) * 255.0


def _check_finite(values: np.ndarray, path: Path) -> None:
    """A NaN or infinite pixel would turn the whole image black in the stretch and get a confident prediction."""
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{path} holds {int(bad.sum())} NaN or infinite pixel values: clean or remove the image")


def _stretch(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)


def _pillow_values(path: Path, window: tuple[float, float] | None, channels: int) -> tuple[np.ndarray, bool]:
    """(values, already uint8 in the wanted mode) of an image file Pillow reads."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # deep grey: kept as numbers until normalised
                values = np.asarray(image, dtype=np.float64)
                _check_finite(values, path)
                return (_apply_window(values, *window) if window else _stretch(values)), False
            image = image.convert("L" if channels == 1 else "RGB")
            return np.asarray(image, dtype=np.uint8), True
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"{path} cannot be read as an image ({type(err).__name__}): replace or remove the file") from None


def read_volume(path: Path, reading: ImageReading, size: int) -> np.ndarray:
    """A NIfTI volume as uint8 (1, size, size, size): scaled by the file's slope / intercept (e.g. to HU),
    windowed (or stretched from its minimum to its maximum), resampled with linear interpolation."""
    import nibabel
    from scipy import ndimage

    try:
        values = np.asarray(nibabel.load(path).get_fdata(dtype=np.float32))
    except Exception as err:
        raise DataError(f"{path} cannot be read as a NIfTI volume ({type(err).__name__}): replace or remove it") from None
    values = values[..., 0] if values.ndim == 4 and values.shape[3] == 1 else values
    _check_finite(values, path)
    scaled = _apply_window(values, *reading.window) if reading.window else _stretch(values)
    resampled = ndimage.zoom(scaled, [size / n for n in scaled.shape], order=1, grid_mode=True, mode="nearest")
    return np.clip(np.rint(resampled), 0, 255).astype(np.uint8)[None]


def read_image(path: Path, reading: ImageReading, size: int) -> np.ndarray:
    """One image as uint8 (C, H, W) with `reading.channels`, resized to `size` px; a NIfTI file as a volume."""
    from PIL import Image

    path = Path(path)
    if is_nifti(path):
        return read_volume(path, reading, size)
    if is_dicom(path):
        values, eight_bit, invert = _dicom_values(path, reading.window)
    else:
        (values, eight_bit), invert = _pillow_values(path, reading.window, reading.channels), False
    if eight_bit:
        image = Image.fromarray(values).convert("L" if reading.channels == 1 else "RGB")
        out = np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.uint8)
    else:
        grey = Image.fromarray(values.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR)
        out = np.clip(np.rint(np.asarray(grey)), 0, 255).astype(np.uint8)
        if reading.channels == 3:
            out = np.repeat(out[:, :, None], 3, axis=2)
    if invert:
        out = 255 - out
    return out[None] if out.ndim == 2 else out.transpose(2, 0, 1)


# Header fields that describe a scanner, a site or a demographic group, never a person: reports are shared.
SUBGROUP_FIELDS = ("PatientSex", "PatientAge", "Manufacturer", "ManufacturerModelName", "InstitutionName", "Modality",
                   "BodyPartExamined", "ViewPosition")


def header_values(files: list[Path], field: str) -> np.ndarray:
    """One DICOM header field per file, as subgroup labels (PatientAge cut into bands); 'unknown' where absent."""
    if field not in SUBGROUP_FIELDS:
        raise ConfigError(f"--subgroup dicom:{field} is not a subgroup field (reports are shared, and may not carry "
                          f"identifiers): choose one of {', '.join(SUBGROUP_FIELDS)}")
    values = []
    for f in files:
        if not is_dicom(f):
            raise DataError(f"--subgroup dicom:{field} reads DICOM headers, but {f.name} is not a DICOM file")
        value = acquisition_fields(f, (field,))[field]
        values.append(_age_band(value) if field == "PatientAge" else (value or "unknown"))
    return np.array(values, dtype=object)


def acquisition_fields(path: Path, fields: tuple[str, ...]) -> dict[str, str]:
    """The named DICOM header fields, read without the pixels ("" where absent); empty for a file that is not
    DICOM. Callers name only fields that are not identifiers (SUBGROUP_FIELDS, the input check's DICOM_FIELDS)."""
    if not is_dicom(path):
        return {}
    import pydicom

    header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(fields))
    return {field: str(header.get(field, "") or "").strip() for field in fields}


AGE_BANDS = ((18, "0-17"), (40, "18-39"), (60, "40-59"), (80, "60-79"), (200, "80+"))


def _age_band(text: str) -> str:
    """DICOM age string ('045Y', '006M') to a band; days, weeks and months are under a year."""
    if len(text) != 4 or not text[:3].isdigit():
        return "unknown"
    years = int(text[:3]) if text[3] == "Y" else 0
    return next(label for limit, label in AGE_BANDS if years < limit)


def as_picture(image: np.ndarray) -> np.ndarray:
    """A (C, H, W) image as (H, W) grey or (H, W, 3) RGB; a (1, D, H, W) volume as its three orthogonal
    mid-slices (axial, coronal, sagittal) side by side, 2 px apart."""
    if image.ndim == 4:
        volume = image[0]
        d, h, w = volume.shape
        slices = [volume[d // 2], volume[:, h // 2], volume[:, :, w // 2]]
        height = max(s.shape[0] for s in slices)
        padded = [np.pad(s, ((0, height - s.shape[0]), (0, 2))) for s in slices]
        return np.concatenate(padded, axis=1)[:, :-2]
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
