"""The fitted encoding of a table, as plain JSON: stored in the checkpoint and applied unchanged later.

A model trained on a table must see the same features in the same order, scaled the same way, on
every later file: columns are matched by name (never by position) and the scaler means, scales,
category levels and imputation values fitted on the training split are reused, not refitted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from medprune.errors import DataError


def fit_encoding(train, numeric: list[str], categorical: list[str], impute: bool) -> dict[str, Any]:
    """Fit on the training rows: mean / scale (standardisation, population s.d.) of numeric columns,
    sorted levels of categorical ones (one-hot), and with `impute` the median / most frequent value."""
    numeric_fit = {}
    for column in numeric:
        values = train[column].to_numpy(float)
        median = float(np.nanmedian(values)) if impute else None
        filled = np.where(np.isnan(values), median, values) if impute else values
        scale = float(np.std(filled))
        numeric_fit[column] = {"mean": float(np.mean(filled)), "scale": scale if scale > 0 else 1.0, "impute": median}
    categorical_fit = {}
    for column in categorical:
        present = train[column].dropna().astype(str)
        mode = min(Counter(present).items(), key=lambda kv: (-kv[1], kv[0]))[0] if impute and len(present) else None
        levels = sorted(set(present) | ({mode} if mode is not None else set()))
        categorical_fit[column] = {"levels": levels, "impute": mode}
    return {"columns": [*numeric, *categorical], "numeric": numeric_fit, "categorical": categorical_fit}


def encoded_feature_names(encoding: dict[str, Any]) -> list[str]:
    return [*encoding["numeric"], *(f"{c}_{level}" for c, fit in encoding["categorical"].items()
                                    for level in fit["levels"])]


def count_unknown_categories(frame, encoding: dict[str, Any]) -> dict[str, int]:
    """Per categorical column, the rows whose (non-missing) value the model never saw in training."""
    counts = {}
    for column, fit in encoding["categorical"].items():
        if column in frame.columns:
            values = frame[column].dropna().astype(str)
            unseen = int((~values.isin(fit["levels"])).sum())
            if unseen:
                counts[column] = unseen
    return counts


def apply_encoding(frame, encoding: dict[str, Any], file_name: str, unknown: str = "error") -> np.ndarray:
    """(N, F) float32 features of `frame`, columns taken by name.

    A category the model never saw is refused (`unknown="error"`), or with `unknown="ignore"` encoded as none of
    the known ones (all zeros).

    Raises:
        DataError: a column the model needs is missing, non-numeric, infinite, has missing values, or (by default)
            holds a category unseen in training.
    """
    import pandas as pd

    missing = [c for c in encoding["columns"] if c not in frame.columns]
    if missing:
        raise DataError(f"{file_name} lacks the column '{missing[0]}' the model was trained on: give a file with the "
                        f"model's columns ({', '.join(encoding['columns'])})")
    parts = []
    for column, fit in encoding["numeric"].items():
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        bad_text = np.isnan(values) & frame[column].notna().to_numpy()
        if bad_text.any():
            raise DataError(f"{file_name}: column '{column}' holds non-numeric values such as "
                            f"'{frame[column][bad_text].iloc[0]}': it was numeric when the model was trained")
        if np.isinf(values).any():
            raise DataError(f"{file_name}: column '{column}' holds infinite values ({int(np.isinf(values).sum())} "
                            "rows): clean the file")
        if np.isnan(values).any():
            if fit["impute"] is None:
                raise DataError(f"{file_name}: column '{column}' has {int(np.isnan(values).sum())} missing values: "
                                "pass --missing impute when training, or clean the file")
            values = np.where(np.isnan(values), fit["impute"], values)
        parts.append(((values - fit["mean"]) / fit["scale"])[:, None])
    for column, fit in encoding["categorical"].items():
        series = frame[column]
        if series.isna().any():
            if fit["impute"] is None:
                raise DataError(f"{file_name}: column '{column}' has {int(series.isna().sum())} missing values: "
                                "pass --missing impute when training, or clean the file")
            series = series.fillna(fit["impute"])
        text = series.astype(str).to_numpy()
        unseen = ~np.isin(text, fit["levels"])
        if unseen.any() and unknown != "ignore":
            raise DataError(f"{file_name}: column '{column}' holds {int(unseen.sum())} values the model never saw in "
                            f"training (first: '{text[unseen][0]}', data row {int(np.flatnonzero(unseen)[0]) + 1}; "
                            f"known: {', '.join(fit['levels'][:8])}): fix the values, or pass --unknown-category "
                            "ignore to encode them as no known category")
        parts.append(np.stack([text == level for level in fit["levels"]], axis=1).astype(float)
                     if fit["levels"] else np.zeros((len(frame), 0)))
    return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((len(frame), 0), np.float32)


def check_header(header: list[str], file_name: str) -> None:
    """Refuse duplicated column names: pandas would silently rename the second one."""
    seen = Counter(header)
    duplicated = [name for name, count in seen.items() if count > 1]
    if duplicated:
        raise DataError(f"{file_name}: the column '{duplicated[0]}' appears {seen[duplicated[0]]} times in the header: "
                        "every column needs its own name")
