"""Loader for one interaction table in CSV or Parquet, with a mapping from its columns to graphrec's.

The mapping names, for each column of the file that is used, its role:
``user`` and ``item`` (both required), ``rating``, ``timestamp`` and
``scenario``. A table without a rating column gets 1.0 for every row, one
without a timestamp column gets 0, and the scenario column is kept as an extra
interaction column named ``scenario``. Other columns of the file are ignored.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import importlib.util
import io
import logging
import lzma
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.data.bad_rows import BadRows, check_on_bad_rows, csv_rows, decode_utf8, shorten
from graphrec.data.tables import RawData
from graphrec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

ROLES = ("user", "item", "rating", "timestamp", "scenario")
PARQUET_SUFFIXES = (".parquet", ".pq")
TAB_SUFFIXES = (".tsv", ".tab")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
# Bytes per block when counting the fields of each line.
_SCAN_BLOCK_BYTES = 1 << 24


def load_table(
    path: Path,
    columns: dict[str, str],
    sep: str | None = None,
    name: str | None = None,
    on_bad_rows: str = "error",
) -> RawData:
    """Read interactions from a CSV or Parquet file, with ``columns`` mapping file column names to roles.

    A path ending in .parquet or .pq is read as Parquet, which needs pyarrow.
    Any other path is read as UTF-8 delimited text with a header line,
    optionally compressed (.gz, .bz2, .xz, .zip with one member, or .zst with
    the zstandard package). The text is decompressed and decoded in memory
    before it is parsed. ``sep`` is one character, by default a tab for .tsv
    and .tab files and a comma otherwise. ``name`` defaults to the file name
    without its suffixes.

    User and item ids are kept as strings. Ratings become float64 and
    timestamps int64 (whole numbers only, in the unit of the file). ``items``
    lists each item once with no title, year or genres, and ``users`` is None.
    No rating scale is known for such a table, so any finite rating is
    accepted.

    Raises ConfigError for a role that is not one of ROLES, a role given
    twice, a mapping without user or item, a separator that is not one
    character, or an invalid ``on_bad_rows``. Raises DataError for a missing
    file or column, a damaged compressed file, text that is not UTF-8, and
    Parquet without pyarrow. Rows raise it for a wrong field count, broken
    quoting, an empty id or scenario, a rating that is not a finite number,
    and a timestamp that is not a whole number. For CSV the error gives the
    1-based line, and for Parquet the 0-based row. With
    ``on_bad_rows="skip"`` such a row is dropped and counted instead (see
    graphrec.data.bad_rows).
    """
    path = Path(path).expanduser()
    roles = _check_mapping(columns)
    check_on_bad_rows(on_bad_rows)
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1):
        raise ConfigError(f"sep must be one character, such as ',' or '\\t', got {sep!r}")
    if not path.is_file():
        raise DataError("interaction table not found", path=path)

    if _suffix(path) in PARQUET_SUFFIXES:
        bad = BadRows(path, on_bad_rows, unit="row")
        frame = _read_parquet(path, list(columns))
        numbers = np.arange(len(frame), dtype=np.int64)
    else:
        bad = BadRows(path, on_bad_rows)
        separator = sep if sep is not None else _default_separator(path)
        frame, numbers = _read_csv(path, list(columns), roles["user"], separator, bad)
    rows_read = len(frame) + bad.count
    logger.info("read %s: %d rows", path, rows_read)
    if rows_read == 0:
        raise DataError("the table has no rows", path=path)

    source = _Source(bad, numbers)
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

    keep = bad.kept(numbers)
    if not keep.all():
        interactions = interactions[keep].reset_index(drop=True)
    bad.finish(rows_read, len(interactions))

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


def _read_csv(
    path: Path, column_names: list[str], user_column: str, sep: str, bad: BadRows
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read ``column_names`` of a delimited file as strings, and return them with the 1-based line of each row.

    Malformed rows go to ``bad`` and are left out. The message for a blank
    line names ``user_column`` as empty.
    """
    data = _read_decompressed(path)
    text = decode_utf8(data, path)
    try:
        header = list(pd.read_csv(io.StringIO(text), sep=sep, nrows=0).columns)
    except (ValueError, csv.Error) as err:
        raise DataError(f"could not read the header line: {err}", path=path, line=1) from err
    _check_columns(column_names, header, path)

    # pandas' C parser quietly pads short rows and, with usecols, drops extra
    # fields, so it is used only when every line has the right field count.
    # csv reads every other file, and finds the bad lines.
    if _every_line_has_fields(data, sep, len(header)):
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            usecols=column_names,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
        data_lines = text.count("\n") - (1 if text.endswith("\n") else 0)
        # pandas also ends a row at a lone "\r", which would make more rows than lines.
        if len(frame) == data_lines:
            return frame, np.arange(2, len(frame) + 2, dtype=np.int64)
    return _read_csv_by_row(path, text, column_names, user_column, sep, bad)


def _every_line_has_fields(data: bytes, sep: str, field_count: int) -> bool:
    """Return whether ``data`` has no quote character and each line after the first has ``field_count`` fields.

    Without quotes a line has one more field than separators. A blank line
    has one field, and the mapping names at least two columns, so blank
    lines fail this check. The bytes are scanned in blocks so that memory
    stays bounded.
    """
    if b'"' in data or len(sep.encode("utf-8")) != 1:
        return False
    separator = sep.encode("utf-8")[0]
    expected = field_count - 1
    array = np.frombuffer(data, dtype=np.uint8)
    # Separators seen on the current line so far, and whether that line is the header.
    carried = 0
    on_header = True
    for start in range(0, len(array), _SCAN_BLOCK_BYTES):
        block = array[start : start + _SCAN_BLOCK_BYTES]
        newlines = np.flatnonzero(block == 10)
        separators = np.flatnonzero(block == separator)
        if len(newlines) == 0:
            carried += len(separators)
            continue
        before = np.searchsorted(separators, newlines)
        per_line = np.diff(before, prepend=0)
        per_line[0] += carried
        checked = per_line[1:] if on_header else per_line
        if (checked != expected).any():
            return False
        on_header = False
        carried = len(separators) - int(before[-1])
    # A last line without a final newline.
    last_line_open = len(array) > 0 and array[-1] != 10
    return not (last_line_open and not on_header and carried != expected)


def _read_csv_by_row(
    path: Path, text: str, column_names: list[str], user_column: str, sep: str, bad: BadRows
) -> tuple[pd.DataFrame, np.ndarray]:
    """Parse the text with the csv module, which gives each row's line even when a quoted field spans lines.

    For such a row the line is its last one.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = next(reader)
    except csv.Error as err:
        raise DataError(f"could not read the header line: {err}", path=path, line=1) from err
    # pandas renames repeated header names ("a", "a.1"), and csv does not, so check again.
    _check_columns(column_names, header, path)
    positions = [header.index(column) for column in column_names]
    values: list[list[str]] = [[] for _ in column_names]
    lines: list[int] = []
    for line, fields in csv_rows(reader, bad):
        if not fields:
            bad.report(line, f"empty {user_column} because the line is blank")
        elif len(fields) != len(header):
            row_text = sep.join(fields)
            bad.report(
                line,
                f"expected {len(header)} fields separated by {sep!r}, got {len(fields)}: {shorten(row_text)}",
            )
        else:
            for column_values, position in zip(values, positions):
                column_values.append(fields[position])
            lines.append(line)
    frame = pd.DataFrame(
        {column: pd.Series(column_values, dtype="str") for column, column_values in zip(column_names, values)}
    )
    return frame, np.array(lines, dtype=np.int64)


def _read_decompressed(path: Path) -> bytes:
    """Return the bytes of ``path``, decompressed by its last suffix (.gz, .bz2, .xz, .zip or .zst)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            with gzip.open(path, "rb") as file:
                return file.read()
        if suffix == ".bz2":
            with bz2.open(path, "rb") as file:
                return file.read()
        if suffix == ".xz":
            with lzma.open(path, "rb") as file:
                return file.read()
        if suffix == ".zip":
            return _read_single_member(path)
        if suffix == ".zst":
            return _read_zstd(path)
        return path.read_bytes()
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, zlib.error) as err:
        # gzip.BadGzipFile is an OSError, and a truncated stream raises EOFError.
        raise DataError(
            f"could not read or decompress the file ({err}). Replace it with an intact copy.", path=path
        ) from err


def _read_single_member(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) != 1:
            names = ", ".join(info.filename for info in members) or "no files"
            raise DataError(
                f"invalid archive: a zipped table must contain exactly one file, but this one contains {names}",
                path=path,
            )
        return archive.read(members[0])


def _read_zstd(path: Path) -> bytes:
    # NOTE: no test runs this path, because zstandard is not a dependency.
    if importlib.util.find_spec("zstandard") is None:
        raise DataError("reading .zst needs zstandard, which is not installed: pip install zstandard", path=path)
    import zstandard

    with path.open("rb") as file:
        return zstandard.ZstdDecompressor().stream_reader(file).read()


def _check_columns(column_names: list[str], available: list[str], path: Path) -> None:
    missing = [column for column in column_names if column not in available]
    if missing:
        raise DataError(
            f"columns {missing} not found. The file has the columns {available}; fix the column mapping.",
            path=path,
        )


@dataclass(frozen=True)
class _Source:
    """The bad rows of the file being read, and the line (CSV) or row (Parquet) number of each data row."""

    bad: BadRows
    numbers: np.ndarray

    def report(self, row: int, message: str) -> None:
        """Pass a problem of 0-based data row ``row`` to ``bad``, which raises DataError or marks the row as skipped."""
        self.bad.report(int(self.numbers[row]), message)


def _strings(values: pd.Series, column: str, source: _Source) -> pd.Series:
    """Return ``values`` as strings, reporting each empty or missing one."""
    text = values.astype("str")
    empty = values.isna().to_numpy() | (text.str.strip() == "").to_numpy(dtype=bool, na_value=True)
    for row in np.flatnonzero(empty):
        value = values.iloc[row]
        source.report(int(row), f"empty {column} {value!r}" if isinstance(value, str) else f"empty {column}")
    return text.reset_index(drop=True)


def _finite_numbers(values: pd.Series, column: str, source: _Source, expected: str = "a finite number") -> np.ndarray:
    """Convert to float64, reporting each value that is not a finite number. Reported rows hold NaN or infinity."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    for row in np.flatnonzero(~np.isfinite(numbers)):
        source.report(int(row), f"invalid {column} {values.iloc[row]!r}, expected {expected}")
    return numbers


def _whole_numbers(values: pd.Series, column: str, source: _Source) -> np.ndarray:
    """Convert to int64, reporting fractions. Integers are converted without a float step, which would round them.

    Reported rows hold 0.
    """
    if pd.api.types.is_integer_dtype(values.dtype) and not values.isna().any():
        return values.to_numpy(dtype=np.int64)
    if pd.api.types.is_string_dtype(values.dtype):
        text = values.astype("str").str.strip()
        integer = text.str.fullmatch(r"[+-]?[0-9]{1,18}").to_numpy(dtype=bool, na_value=False)
        if integer.all():
            return text.astype("int64").to_numpy()

    expected = "a whole number, such as Unix seconds"
    numbers = _finite_numbers(values, column, source, expected)
    finite = np.isfinite(numbers)
    fraction = finite & ((numbers != np.floor(numbers)) | (np.abs(numbers) >= 2**63))
    for row in np.flatnonzero(fraction):
        source.report(int(row), f"invalid {column} {values.iloc[row]!r}, expected {expected}")
    return np.where(finite & ~fraction, numbers, 0).astype(np.int64)


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
