"""Loader for one interaction table in CSV or Parquet, with a mapping from its columns to graphrec's.

The mapping names, for each column of the file that is used, its role:
``user`` and ``item`` (both required), ``rating``, ``timestamp`` and
``scenario``. A table without a rating column gets 1.0 for every row, one
without a timestamp column gets 0, and the scenario column is kept as an extra
interaction column named ``scenario``. Other columns of the file are ignored.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.data.tables import RawData
from graphrec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

ROLES = ("user", "item", "rating", "timestamp", "scenario")
PARQUET_SUFFIXES = (".parquet", ".pq")
TAB_SUFFIXES = (".tsv", ".tab")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")


def load_table(path: Path, columns: dict[str, str], sep: str | None = None, name: str | None = None) -> RawData:
    """Read interactions from a CSV or Parquet file, with ``columns`` mapping file column names to roles.

    A path ending in .parquet or .pq is read as Parquet, which needs pyarrow.
    Any other path is read as delimited text with a header line, optionally
    compressed (.gz, .bz2, .xz, .zst, .zip). ``sep`` defaults to a tab for
    .tsv and .tab files and to a comma otherwise. ``name`` defaults to the
    file name without its suffixes.

    User and item ids are kept as strings. Ratings become float64 and
    timestamps int64 (whole numbers only, in the unit of the file). ``items``
    lists each item once with no title, year or genres, and ``users`` is None.

    Raises ConfigError for a role that is not one of ROLES, a role given
    twice, or a mapping without user or item. Raises DataError for a missing
    file or column, Parquet without pyarrow, an empty id or scenario, a rating
    that is not a finite number, or a timestamp that is not a whole number.
    For CSV the error gives the 1-based line, and for Parquet the 0-based row.
    """
    path = Path(path).expanduser()
    roles = _check_mapping(columns)
    if not path.is_file():
        raise DataError("interaction table not found", path=path)

    table_format = "parquet" if _suffix(path) in PARQUET_SUFFIXES else "csv"
    if table_format == "parquet":
        frame = _read_parquet(path, list(columns))
    else:
        frame = _read_csv(path, list(columns), sep if sep is not None else _default_separator(path))
    logger.info("read %s: %d rows", path, len(frame))
    if frame.empty:
        raise DataError("the table has no rows", path=path)

    source = _Source(path, is_csv=table_format == "csv")
    interactions = pd.DataFrame(
        {
            "user_id": _strings(frame[roles["user"]], roles["user"], source),
            "item_id": _strings(frame[roles["item"]], roles["item"], source),
        }
    )
    if "rating" in roles:
        interactions["rating"] = _finite_numbers(frame[roles["rating"]], roles["rating"], source)
    else:
        interactions["rating"] = np.ones(len(frame), dtype=np.float64)
    if "timestamp" in roles:
        interactions["timestamp"] = _whole_numbers(frame[roles["timestamp"]], roles["timestamp"], source)
    else:
        interactions["timestamp"] = np.zeros(len(frame), dtype=np.int64)
    if "scenario" in roles:
        interactions["scenario"] = _strings(frame[roles["scenario"]], roles["scenario"], source)

    item_ids = pd.Series(pd.unique(interactions["item_id"]), dtype="str")
    items = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": pd.Series(pd.NA, index=item_ids.index, dtype="str"),
            "year": pd.array([pd.NA] * len(item_ids), dtype="Int64"),
            "genres": pd.Series([()] * len(item_ids), index=item_ids.index, dtype=object),
        }
    )
    return RawData(
        name=name or _stem(path), interactions=interactions, items=items, users=None, genres=[], source_files=[path]
    )


def _check_mapping(columns: dict[str, str]) -> dict[str, str]:
    """Return role -> file column, after checking the mapping."""
    roles: dict[str, str] = {}
    for column, role in columns.items():
        if role not in ROLES:
            raise ConfigError(f"column {column!r} has the unknown role {role!r}. Valid roles: {', '.join(ROLES)}.")
        if role in roles:
            raise ConfigError(f"columns {roles[role]!r} and {column!r} both have the role {role!r}. Map only one.")
        roles[role] = column
    for role in ("user", "item"):
        if role not in roles:
            raise ConfigError(f"the column mapping has no {role!r} column. Map one file column to {role!r}.")
    return roles


def _read_parquet(path: Path, column_names: list[str]) -> pd.DataFrame:
    # NOTE: the read past the pyarrow check runs in tests only where pyarrow
    # is installed (test_parquet_round_trip).
    if importlib.util.find_spec("pyarrow") is None:
        raise DataError("reading Parquet needs pyarrow, which is not installed: pip install pyarrow", path=path)
    import pyarrow.parquet

    available = pyarrow.parquet.read_schema(path).names
    _check_columns(column_names, available, path)
    return pd.read_parquet(path, columns=column_names, engine="pyarrow")


def _read_csv(path: Path, column_names: list[str], sep: str) -> pd.DataFrame:
    try:
        header = pd.read_csv(path, sep=sep, nrows=0)
    except (ValueError, OSError, csv.Error, UnicodeDecodeError) as err:
        raise DataError(f"could not read the header line: {err}", path=path, line=1) from err
    _check_columns(column_names, list(header.columns), path)
    try:
        return pd.read_csv(
            path, sep=sep, usecols=column_names, dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except (ValueError, OSError, csv.Error, UnicodeDecodeError) as err:
        raise DataError(f"could not parse the table: {err}", path=path) from err


def _check_columns(column_names: list[str], available: list[str], path: Path) -> None:
    missing = [column for column in column_names if column not in available]
    if missing:
        raise DataError(
            f"columns {missing} not found. The file has the columns {available}; fix the column mapping.",
            path=path,
        )


@dataclass(frozen=True)
class _Source:
    """The file being read, for error messages that point at one row."""

    path: Path
    is_csv: bool

    def error(self, row: int, message: str) -> DataError:
        """Return a DataError for 0-based data row ``row``: the line of a CSV file, the row of a Parquet file."""
        if self.is_csv:
            # NOTE: this assumes that no quoted field spans lines, so that data
            # row i sits on line i + 2, after the header line.
            return DataError(message, path=self.path, line=row + 2)
        return DataError(f"row {row}: {message}", path=self.path)


def _strings(values: pd.Series, column: str, source: _Source) -> pd.Series:
    """Return ``values`` as non-empty strings, raising DataError at the first empty or missing one."""
    text = values.astype("str")
    empty = values.isna().to_numpy() | (text.str.strip() == "").to_numpy(dtype=bool, na_value=True)
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise source.error(row, f"empty {column}")
    return text.reset_index(drop=True)


def _finite_numbers(values: pd.Series, column: str, source: _Source, expected: str = "a finite number") -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(numbers)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise source.error(row, f"invalid {column} {values.iloc[row]!r}, expected {expected}")
    return numbers


def _whole_numbers(values: pd.Series, column: str, source: _Source) -> np.ndarray:
    """Convert to int64, rejecting fractions. Integers are converted without a float step, which would round them."""
    if pd.api.types.is_integer_dtype(values.dtype) and not values.isna().any():
        return values.to_numpy(dtype=np.int64)
    if pd.api.types.is_string_dtype(values.dtype):
        text = values.astype("str").str.strip()
        integer = text.str.fullmatch(r"[+-]?[0-9]{1,18}").to_numpy(dtype=bool, na_value=False)
        if integer.all():
            return text.astype("int64").to_numpy()

    expected = "a whole number, such as Unix seconds"
    numbers = _finite_numbers(values, column, source, expected)
    fraction = (numbers != np.floor(numbers)) | (np.abs(numbers) >= 2**63)
    if fraction.any():
        row = int(np.flatnonzero(fraction)[0])
        raise source.error(row, f"invalid {column} {values.iloc[row]!r}, expected {expected}")
    return numbers.astype(np.int64)


def _suffix(path: Path) -> str:
    """Return the format suffix of ``path``, skipping a compression suffix such as .gz."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _default_separator(path: Path) -> str:
    return "\t" if _suffix(path) in TAB_SUFFIXES else ","


def _stem(path: Path) -> str:
    name = path.name
    for suffix in reversed(path.suffixes):
        if suffix.lower() in _COMPRESSION_SUFFIXES + PARQUET_SUFFIXES + TAB_SUFFIXES + (".csv", ".txt"):
            name = name[: -len(suffix)]
        else:
            break
    return name
