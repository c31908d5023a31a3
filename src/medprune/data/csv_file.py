"""Reading a user's CSV file (table, manifest or metadata) with one-line errors that say how to fix it."""

from __future__ import annotations

from pathlib import Path

from medprune.errors import DataError


def read_csv(path: Path, what: str = "a CSV table"):
    """The file as a DataFrame.

    Raises:
        DataError: missing, empty, ragged (rows with more fields than the header), not UTF-8 (with the encoding
            it looks like), or separated by ';' or tabs instead of commas.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist: check the path given to --data")
    try:
        frame = pd.read_csv(path)
    except UnicodeDecodeError:
        with open(path, "rb") as handle:
            if b"\x00" in handle.read(4096):
                raise DataError(f"{path.name} is not a text CSV file (it holds binary data): give {what}") from None
        raise DataError(f"{path.name} is not UTF-8 text (it looks like Latin-1 / Windows-1252, as spreadsheet programs "
                        "often save): save it again as 'CSV UTF-8'") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty: give {what} with a header row") from None
    except pd.errors.ParserError as err:
        raise DataError(f"{path.name} is not a regular CSV ({_first_line(err)}): every row needs as many fields as "
                        "the header; quote values that hold commas") from None
    if len(frame.columns) == 1:
        header = str(frame.columns[0])
        for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if separator in header:
                raise DataError(f"{path.name} separates its columns with {name}, not commas: save it again as "
                                "comma-separated CSV")
    if frame.empty:
        raise DataError(f"{path.name} has no rows: give {what} with one case per row")
    return frame


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:120] if text else type(err).__name__
