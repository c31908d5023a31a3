"""CSV tables: categorical encoding, missing values, a seeded stratified 60/20/20 split, subgroups."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np

from medprune.data.csv_file import read_csv
from medprune.data.dataset import Dataset, Split, check_labels, task_for
from medprune.data.fetch import md5sum
from medprune.data.table_encoding import apply_encoding, check_header, encoded_feature_names, fit_encoding
from medprune.errors import ConfigError, DataError

MissingPolicy = Literal["error", "impute"]
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)


def _read_csv(path: Path):
    frame = read_csv(path)
    check_header(_header(path), path.name)
    return frame


def _header(path: Path) -> list[str]:
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return next(csv.reader(f), [])


def _check_columns(path: Path, frame, label_column: str | None, subgroups: list[str]) -> None:
    if not label_column:
        raise ConfigError(f"{path.name} is a table: name the label column with --label-column COLUMN "
                          f"(columns: {', '.join(map(str, frame.columns))})")
    if label_column in subgroups:
        raise ConfigError(f"--subgroup {label_column} is the label column: a subgroup splits patients by something other "
                          "than their diagnosis; choose another column such as Sex or Age")
    for column in [label_column, *subgroups]:
        if column not in frame.columns:
            raise DataError(f"column '{column}' is not in {path.name}: choose one of "
                            f"{', '.join(map(str, frame.columns))}")


# Column names that mark identifiers, file references or split assignments: never clinical inputs.
_ID_NAME = re.compile(r"(^|[^a-z])(id|ids|uid|uuid|mrn|patient|patientid|subject|accession|name|file|filename|path|"
                      r"image|img|mask|split|fold|dob|birth|birthdate|series|study|studyuid)([^a-z]|$)", re.IGNORECASE)
_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".nii", ".nii.gz", ".mha", ".nrrd",
                  ".npy", ".npz")


def _identifier_reason(path: Path, frame, column: str, numeric: bool) -> str:
    """Why a column looks like an identifier or a file reference rather than a clinical input ('' when not)."""
    values = frame[column].dropna()
    if numeric:
        return "its name marks an identifier" if _ID_NAME.search(str(column)) else ""
    text = values.astype(str)
    if len(text) and text.str.lower().str.endswith(_FILE_SUFFIXES).mean() > 0.5:
        return "it holds image or data file paths"
    sample = text.iloc[: min(len(text), 20)]
    if len(sample) and all((path.parent / v).exists() or Path(v).is_absolute() and Path(v).exists() for v in sample):
        return "it holds paths of existing files"
    if _ID_NAME.search(str(column)):
        return "its name marks an identifier, a file or a split"
    if len(values) >= 20 and values.nunique() == len(values):
        return "its values are unique per row, as identifiers are"
    return ""


def _check_no_identifiers(path: Path, frame, features: list[str], allowed: list[str]) -> None:
    """Refuse to feed identifiers or file paths to a model: it would learn nothing clinical and store them (patient
    ids as category levels) in plain text in model.pt."""
    import pandas as pd

    for column in features:
        if column in allowed:
            continue
        reason = _identifier_reason(path, frame, column, pd.api.types.is_numeric_dtype(frame[column]))
        if not reason:
            continue
        if "path" in reason:
            raise DataError(f"{path.name}: column '{column}' would be a model input but {reason}: for a manifest of "
                            f"images pass --image-column {column} (and --label-column LABEL); a table model never reads "
                            "file paths")
        raise DataError(f"{path.name}: column '{column}' would be a model input but {reason}: identifiers must never "
                        f"reach a model; drop the column, keep it aside with --subgroup {column}, or pass "
                        f"--allow-column {column} if it truly is a clinical variable")


def _check_finite_columns(path: Path, frame, numeric: list[str]) -> None:
    for column in numeric:
        infinite = np.isinf(frame[column].to_numpy(float))
        if infinite.any():
            raise DataError(f"{path.name}: column '{column}' holds infinite values ({int(infinite.sum())} rows): "
                            "clean the file")


def _split_indices(y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    try:
        train, rest = train_test_split(index, train_size=SPLIT_FRACTIONS[0], stratify=y, random_state=seed)
        val, test = train_test_split(rest, test_size=0.5, stratify=y[rest], random_state=seed)
    except ValueError as err:
        raise DataError(f"cannot make a stratified 60/20/20 split ({err}): each class needs at "
                        "least 5 rows") from None
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def load_table(path: Path, *, label_column: str | None, subgroups: list[str] | None = None,
               subgroups_as_input: bool = False, missing: MissingPolicy = "error", seed: int = 0,
               extra_meta: list[str] | None = None, source: dict | None = None,
               encoding: dict | None = None, allow_columns: list[str] | None = None) -> Dataset:
    """Load a CSV table as a dataset; encoders are fitted on the training split only.

    Args:
        label_column: the label column.
        subgroups: columns kept aside as metadata for subgroup audits.
        subgroups_as_input: also feed the subgroup columns to the model.
        missing: "error" refuses missing values, "impute" fills them (median / most frequent).
        seed: seed of the stratified split.
        extra_meta: more columns kept as metadata without changing the model inputs (e.g. a column
            a saved model uses as a feature, audited as a subgroup at validation time).
        encoding: the encoding a saved model was trained with (its checkpoint's preprocessing); columns
            are then taken by name and encoded exactly as in training, never refitted.
        allow_columns: columns fed to the model although they look like identifiers (by name or by values
            unique per row); file paths never are.
    Raises:
        DataError: unreadable file, unknown column, missing values under "error", too few rows, an identifier or
            file path column among the inputs.
    """
    import pandas as pd

    path = Path(path)
    subgroups = list(subgroups or [])
    if missing not in ("error", "impute"):
        raise ConfigError(f"missing must be 'error' or 'impute', got '{missing}'")
    frame = _read_csv(path)
    extra_meta = [c for c in (extra_meta or []) if c not in subgroups]
    _check_columns(path, frame, label_column, subgroups + extra_meta)
    if frame[label_column].isna().any():
        raise DataError(f"{path.name}: {int(frame[label_column].isna().sum())} rows have no '{label_column}' "
                        "label: drop them or fill the labels")
    if encoding is None:
        features = [c for c in frame.columns if c != label_column and (subgroups_as_input or c not in subgroups)]
    else:
        features = list(encoding["columns"])
        known = {*features, label_column, *subgroups, *extra_meta}
        unknown = [c for c in frame.columns if c not in known]
        absent = [c for c in features if c not in frame.columns]
        if absent:
            instead = f"; it has '{unknown[0]}' instead, which the model does not know" if unknown else ""
            raise DataError(f"{path.name} lacks the column '{absent[0]}' the model was trained on{instead}: give a "
                            f"file with the model's columns ({', '.join(features)})")
        if unknown:
            raise DataError(f"{path.name} has the column '{unknown[0]}' the model was not trained on: remove it, "
                            f"or check the header (the model's columns: {', '.join(features)})")
    if not features:
        raise DataError(f"{path.name} has no feature columns besides '{label_column}'")
    if encoding is None:
        _check_no_identifiers(path, frame, features, list(allow_columns or []))
    present = [c for c in features if c in frame.columns]
    holes = frame[present].isna().sum()
    holes = holes[holes > 0]
    if len(holes) and missing == "error" and encoding is None:
        where = ", ".join(f"{c} ({n})" for c, n in holes.items())
        raise DataError(f"{path.name} has missing values in {where}: pass --missing impute to fill "
                        "them (median / most frequent) or clean the file")
    class_values = sorted(frame[label_column].unique().tolist(), key=str)
    y = frame[label_column].map({v: i for i, v in enumerate(class_values)}).to_numpy(np.int64)
    index = _split_indices(y, seed)
    if encoding is None:
        categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
        numeric = [c for c in features if c not in categorical]
        _check_finite_columns(path, frame, numeric)
        encoding = fit_encoding(frame.iloc[index["train"]], numeric, categorical, impute=missing == "impute")
    x = apply_encoding(frame, encoding, path.name)
    meta = {c: frame[c].to_numpy() for c in subgroups + extra_meta}
    splits = {name: Split(x[ix], y[ix], {c: v[ix] for c, v in meta.items()}) for name, ix in index.items()}
    class_names = [str(v) for v in class_values]
    check_labels(path.name, splits, len(class_names))
    return Dataset(
        name=path.stem, modality="table", task=task_for(len(class_names)), class_names=class_names,
        splits=splits, input_shape=(x.shape[1],), checksum=md5sum(path),
        source=source or {"data": str(path), "label_column": label_column},
        feature_names=encoded_feature_names(encoding),
        preprocessing={"missing": missing, "numeric": list(encoding["numeric"]),
                       "categorical": list(encoding["categorical"]), "encoding": encoding,
                       "split": dict(zip(("train", "val", "test"), SPLIT_FRACTIONS)), "seed": seed},
    )
