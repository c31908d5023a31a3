"""`predict`: run a saved model on new cases (a folder or list of images, or table rows), no labels needed.

The output names the files the user gave (or row numbers), never anything read from inside the files.
Inputs are prepared exactly as at training time: the image size, channels and normalisation, or the
table encoding, recorded in the checkpoint.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from medprune._atomic import write_text_atomic
from medprune.data.batches import to_tensor
from medprune.data.csv_file import read_csv
from medprune.data.image_files import ImageFiles, scan_images
from medprune.data.images import ImageReading, acquisition_fields, is_image_file, native_size
from medprune.data.manifest import image_paths
from medprune.data.table_encoding import apply_encoding, count_unknown_categories
from medprune.errors import ConfigError, DataError
from medprune.evaluation.input_profile import DICOM_FIELDS, check_cases
from medprune.evaluation.predict import check_finite
from medprune.records.prediction import PredictionSummary
from medprune.models.checkpoint import Checkpoint
from medprune.hardware.device import device_of


def _image_inputs(checkpoint: Checkpoint, data: Path, image_column: str | None) -> tuple[list[str], ImageFiles]:

    channels, *sides = checkpoint.input_shape
    if len(set(sides)) > 1:
        raise ConfigError(f"the model takes {'x'.join(map(str, sides))} inputs; predict reads square images and cubic "
                          "volumes only")
    if data.is_dir():
        files = sorted(f for f in data.rglob("*") if is_image_file(f))
        names = [str(f.relative_to(data)) for f in files]
    else:
        if not image_column:
            raise ConfigError("pass a folder of images, or a CSV with --image-column naming the image paths")
        frame = read_csv(data, "a manifest")
        if image_column not in frame.columns:
            raise DataError(f"column '{image_column}' is not in {data.name}: choose one of "
                            f"{', '.join(map(str, frame.columns))}")
        files = image_paths(frame, image_column, data)
        names = [str(p) for p in frame[image_column]]
    if not files:
        raise DataError(f"{data} holds no images (.png, .jpg, .bmp, .tif, .dcm, .nii, .nii.gz)")
    recorded = checkpoint.spec.preprocessing.get("reading", {})
    window = recorded.get("window")
    reading = ImageReading(sides[0], channels, tuple(window) if window else None)
    _, _, dims = scan_images(files, reading, skip_hint=False)  # every file is an image, before any prediction
    if dims != len(sides):
        kind = {2: "2D images", 3: "3D volumes"}
        raise ConfigError(f"the model takes {kind[len(sides)]} but {data.name} holds {kind[dims]}: use a model "
                          f"trained on {kind[dims]}")
    return names, ImageFiles(files, reading, sides[0], dims=dims)


def _table_inputs(checkpoint: Checkpoint, data: Path, unknown_category: str) -> tuple[list[str], np.ndarray, dict]:
    encoding = checkpoint.spec.preprocessing.get("encoding")
    if encoding is None:
        raise ConfigError("this table model records no encoding (saved by an older medprune): train it again")
    frame = read_csv(data)
    unknown = count_unknown_categories(frame, encoding)
    x = apply_encoding(frame, encoding, data.name, unknown=unknown_category)
    return [str(i) for i in range(len(frame))], x, unknown


def predict(checkpoint: Checkpoint, data: str | Path, out: str | Path, *, image_column: str | None = None,
            batch_size: int = 256, progress: bool = True, unknown_category: str = "error",
            reject_ood: bool = False) -> dict:
    """Write `out` (CSV): one row per case with the class probabilities, the decision and the threshold used, and
    for an image model with an input profile whether the case looks like the training data (`in_distribution`,
    with the reason when it does not).

    `unknown_category`: "error" refuses a table row with a category the model never saw; "ignore" encodes it as
    no known category (all zeros), and the record counts such rows per column.
    `reject_ood`: withhold the decision of every case flagged out of distribution.

    Raises:
        DataError / ConfigError: inputs that are missing, unreadable or do not fit the model.
    """
    import torch
    from rich.progress import track

    data, out = Path(data), Path(out)
    if not data.exists():
        raise DataError(f"{data} does not exist: pass a folder of images, a CSV manifest or a table")
    if checkpoint.spec.model.modality == "table":
        if data.is_dir() or data.suffix.lower() != ".csv":
            raise DataError(f"the model takes table rows: pass a CSV with its columns, not {data.name}")
        names, x, unknown = _table_inputs(checkpoint, data, unknown_category)
    else:
        unknown = {}
        names, x = _image_inputs(checkpoint, data, image_column)
    pre = checkpoint.spec.preprocessing
    model = checkpoint.model.eval()
    with torch.no_grad():
        probs = torch.cat([torch.softmax(model(to_tensor(x[i:i + batch_size], pre).to(device_of(model))), 1).cpu()
                           for i in track(range(0, len(x), batch_size), "predicting", disable=not progress,
                                         transient=True)]).double().numpy()
    check_finite(probs, checkpoint.name)
    classes, threshold = checkpoint.class_names, checkpoint.threshold
    decided = (probs[:, 1] >= threshold).astype(int) if len(classes) == 2 and threshold is not None else probs.argmax(1)
    binary = len(classes) == 2
    reasons = _out_of_distribution(checkpoint, x, pre) if isinstance(x, ImageFiles) else None
    if reject_ood and reasons is None:
        raise ConfigError("--reject-ood needs the input profile of an image model trained (or imported, pruned) by "
                          "this medprune version: train or import the model again")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["case", *(f"p_{c}" for c in classes), "prediction"] + (["threshold"] if binary else []) +
                    (["in_distribution", "ood_reason"] if reasons is not None else []))
    withheld = 0
    for i, (name, p, k) in enumerate(zip(names, probs, decided)):
        decision = classes[k]
        if reasons is not None and reasons[i] and reject_ood:
            decision, withheld = "withheld (out of distribution)", withheld + 1
        writer.writerow([name, *(f"{v:.6f}" for v in p), decision] + ([f"{threshold:.6f}"] if binary else []) +
                        ([str(not reasons[i]).lower(), reasons[i]] if reasons is not None else []))
    write_text_atomic(out, buffer.getvalue())
    counts = {c: int(np.sum(decided == i)) for i, c in enumerate(classes)}
    return PredictionSummary(cases=len(names), predicted=counts, threshold=threshold, out=str(out),
                             unknown_categories=unknown, withheld=withheld,
                             out_of_distribution=None if reasons is None else sum(bool(r) for r in reasons)
                             ).to_json_dict()


def _out_of_distribution(checkpoint: Checkpoint, files: ImageFiles, preprocessing: dict) -> list[str] | None:
    """Per case, why it is unlike the training inputs ("" when it is not); None without a recorded profile."""
    profile = checkpoint.spec.input_profile
    if not profile or files.dims != 2:
        return None
    aspects = []
    for path in files.files:
        height, width = native_size(path)[-2:]
        aspects.append(width / height)
    dicom = [acquisition_fields(path, DICOM_FIELDS) for path in files.files]
    _, reasons = check_cases(profile, checkpoint.model, np.asarray(files), preprocessing, len(checkpoint.class_names),
                             aspects=np.asarray(aspects), dicom=dicom)
    return reasons

