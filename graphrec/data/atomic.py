"""Loader for RecBole atomic files: ``<name>.inter`` with optional ``<name>.item`` and ``<name>.user``.

Each file is UTF-8 text with tab-separated fields. The header names every
field with its type, as in ``user_id:token``. The types are ``token`` (a
string), ``token_seq`` (space-separated strings), ``float`` and ``float_seq``
(space-separated numbers), as RecBole's documentation defines them
(https://recbole.io/docs/user_guide/data/atomic_files.html).

The files are parsed line by line in Python, which takes a few seconds per
million lines.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.data.bad_rows import BadRows, check_on_bad_rows, decode_utf8, shorten
from graphrec.data.tables import RawData
from graphrec.errors import DataError

logger = logging.getLogger(__name__)

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")

USER_FIELD = "user_id"
ITEM_FIELD = "item_id"
RATING_FIELD = "rating"
TIMESTAMP_FIELD = "timestamp"
# Item fields that fill the RawData item columns, in order of preference.
TITLE_FIELDS = ("movie_title", "title")
GENRE_FIELDS = ("genre", "genres", "class", "categories")
YEAR_FIELD = "release_year"


@dataclass
class AtomicTable:
    """One parsed atomic file: field names, their types, the raw text of every value and the line of every row.

    ``bad`` collects the rows that fail a check. ``lines_read`` counts the
    data lines of the file, including those left out for a wrong field count.
    """

    path: Path
    types: dict[str, str]
    values: dict[str, list[str]]
    lines: list[int]
    bad: BadRows
    lines_read: int

    def __len__(self) -> int:
        return len(self.lines)

    def report(self, row: int, message: str) -> None:
        """Pass a problem of row ``row`` to ``bad``, which raises DataError or marks the row as skipped."""
        self.bad.report(self.lines[row], message)

    def good_rows(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
        """Drop the rows of ``frame`` (aligned with this table) that were reported, and return it with their lines.

        Raises DataError when no row is left, and logs the skip count.
        """
        lines = np.array(self.lines, dtype=np.int64)
        keep = self.bad.kept(lines)
        self.bad.finish(self.lines_read, int(keep.sum()))
        if keep.all():
            return frame, self.lines
        return frame[keep].reset_index(drop=True), lines[keep].tolist()


def load_atomic(folder: Path, name: str | None = None, on_bad_rows: str = "error") -> RawData:
    """Read ``<name>.inter``, and ``<name>.item`` and ``<name>.user`` when present, from ``folder``.

    ``name`` defaults to the folder's name, as in RecBole's ``dataset/<name>/``
    layout. Ids are kept as strings. ``rating`` is 1.0 when the .inter file
    has no rating field, and ``timestamp`` (rounded to whole seconds) is 0
    when it has none. Other .inter fields are kept as extra interaction
    columns, converted by type: token to str, float to float64, and the
    sequence types to tuples.

    Items come from the .item file, with ``title`` from ``movie_title`` or
    ``title``, ``genres`` from the first of ``genre``, ``genres``, ``class``
    and ``categories``, and ``year`` from ``release_year``. Its other fields
    are kept as extra columns. An item that only the .inter file names gets
    a row with no title, no year and no genres. Without a .item file every
    item gets such a row. Users come from the .user file with every field
    kept. An ``age`` field whose values are all integers becomes int64.

    Raises DataError for a missing .inter file or a missing user_id or
    item_id field. It is also raised for a header field without a type or
    with an unknown type, and for a file that is not UTF-8. Rows raise it
    for a wrong field count, a value that does not match its type (NaN and
    infinity included), an empty id, and a duplicate item or user id. The
    error names the file and the 1-based line. With ``on_bad_rows="skip"`` a row with a wrong field count,
    a bad value or an empty id is dropped and counted instead (see
    graphrec.data.bad_rows). RecBole files declare no rating scale, so any
    finite rating is accepted.
    """
    check_on_bad_rows(on_bad_rows)
    folder = Path(folder).expanduser()
    name = name or folder.name
    inter_path = folder / f"{name}.inter"
    if not inter_path.is_file():
        raise DataError(
            f"atomic interaction file not found. RecBole data for {name!r} needs {name}.inter in {folder}.",
            path=inter_path,
        )

    inter = read_atomic_file(inter_path, on_bad_rows)
    interactions = _build_interactions(inter)
    source_files = [inter_path]

    item_path = folder / f"{name}.item"
    item_table = read_atomic_file(item_path, on_bad_rows) if item_path.is_file() else None
    items = _build_items(item_table, interactions["item_id"])
    if item_table is not None:
        source_files.append(item_path)

    user_path = folder / f"{name}.user"
    users = None
    if user_path.is_file():
        users = _build_users(read_atomic_file(user_path, on_bad_rows))
        source_files.append(user_path)

    genres = sorted({genre for item_genres in items["genres"] for genre in item_genres})
    user_count = len(users) if users is not None else interactions["user_id"].nunique()
    logger.info(
        "read atomic dataset %s: %d interactions, %d items, %d users", name, len(interactions), len(items), user_count
    )
    return RawData(
        name=name, interactions=interactions, items=items, users=users, genres=genres, source_files=source_files
    )


def read_atomic_file(path: Path, on_bad_rows: str = "error") -> AtomicTable:
    """Parse one atomic file into its header types and the text of each value, checking field counts.

    A line with a wrong field count raises DataError, or is left out under
    ``on_bad_rows="skip"``. Raises DataError for a file that is not UTF-8.
    """
    bad = BadRows(path, on_bad_rows)
    text = decode_utf8(path.read_bytes(), path)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        raise DataError("the file is empty, expected a header such as user_id:token", path=path, line=1)

    types = _parse_header(lines[0].rstrip("\r"), path)
    names = list(types)
    values: dict[str, list[str]] = {name: [] for name in names}
    row_lines: list[int] = []
    for number, line in enumerate(lines[1:], start=2):
        line = line.rstrip("\r")
        fields = line.split("\t")
        if len(fields) != len(names):
            if not line.strip():
                bad.report(number, f"blank line, expected {len(names)} tab-separated fields as in the header")
            else:
                bad.report(
                    number,
                    f"got {len(fields)} fields, expected {len(names)} tab-separated fields as in the header: "
                    f"{shorten(line)}",
                )
            continue
        for name, value in zip(names, fields):
            values[name].append(value)
        row_lines.append(number)

    logger.info("read %s: %d rows", path, len(lines) - 1)
    return AtomicTable(path, types, values, row_lines, bad, len(lines) - 1)


def _parse_header(header: str, path: Path) -> dict[str, str]:
    types: dict[str, str] = {}
    for column, entry in enumerate(header.split("\t"), start=1):
        field, separator, field_type = entry.rpartition(":")
        if not separator or not field:
            raise DataError(
                f"header field {entry!r} (column {column}) has no type. Write it as name:type, "
                f"with type one of {', '.join(FIELD_TYPES)}.",
                path=path,
                line=1,
            )
        if field_type not in FIELD_TYPES:
            raise DataError(
                f"header field {entry!r} (column {column}) has the unknown type {field_type!r}. "
                f"Supported types: {', '.join(FIELD_TYPES)}.",
                path=path,
                line=1,
            )
        if field in types:
            raise DataError(f"header field {field!r} (column {column}) appears twice", path=path, line=1)
        types[field] = field_type
    return types


def _build_interactions(table: AtomicTable) -> pd.DataFrame:
    for field in (USER_FIELD, ITEM_FIELD):
        if field not in table.types:
            raise DataError(
                f"the header has no {field} field. Name the {field.split('_')[0]} column {field}:token.",
                path=table.path,
                line=1,
            )
    if table.lines_read == 0:
        raise DataError("the file has no interactions", path=table.path)

    columns: dict[str, object] = {
        "user_id": _ids(table, USER_FIELD),
        "item_id": _ids(table, ITEM_FIELD),
    }
    if RATING_FIELD in table.types:
        columns["rating"] = _numbers(table, RATING_FIELD, allow_empty=False)
    else:
        columns["rating"] = np.ones(len(table), dtype=np.float64)
    if TIMESTAMP_FIELD in table.types:
        columns["timestamp"] = _timestamps(table)
    else:
        columns["timestamp"] = np.zeros(len(table), dtype=np.int64)

    used = {USER_FIELD, ITEM_FIELD, RATING_FIELD, TIMESTAMP_FIELD}
    for name in table.types:
        if name not in used:
            columns[name] = _convert(table, name)
    frame, _ = table.good_rows(pd.DataFrame(columns))
    return frame


def _build_items(table: AtomicTable | None, interaction_items: pd.Series) -> pd.DataFrame:
    """Build item_id, title, year and genres (plus extra fields), with a row for every item that has interactions."""
    if table is None:
        ids = pd.unique(interaction_items)
        return _empty_items(pd.Series(ids, dtype="str"))

    if ITEM_FIELD not in table.types:
        raise DataError(f"the header has no {ITEM_FIELD} field", path=table.path, line=1)
    ids = pd.Series(_ids(table, ITEM_FIELD), dtype="str")

    title_field = next((field for field in TITLE_FIELDS if field in table.types), None)
    genre_field = next((field for field in GENRE_FIELDS if field in table.types), None)
    if title_field is not None:
        titles = pd.Series(table.values[title_field], dtype="str")
    else:
        titles = pd.Series(pd.NA, index=ids.index, dtype="str")
    items = pd.DataFrame(
        {
            "item_id": ids,
            "title": titles,
            "year": _years(table) if YEAR_FIELD in table.types else pd.array([pd.NA] * len(ids), dtype="Int64"),
            "genres": pd.Series(_token_tuples(table, genre_field) if genre_field else [()] * len(ids), dtype=object),
        }
    )
    used = {ITEM_FIELD, title_field, genre_field, YEAR_FIELD}
    for name in table.types:
        if name not in used:
            items[name] = _convert(table, name)
    items, lines = table.good_rows(items)
    _check_unique(items["item_id"], ITEM_FIELD, table.path, lines)

    ids = items["item_id"]
    missing = pd.unique(interaction_items[~interaction_items.isin(ids)])
    if len(missing):
        logger.info(
            "%d items with interactions have no row in %s, so they get rows without title, year or genres",
            len(missing),
            table.path,
        )
        items = pd.concat([items, _empty_items(pd.Series(missing, dtype="str"))], ignore_index=True)
    return items


def _empty_items(ids: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": ids.reset_index(drop=True),
            "title": pd.Series(pd.NA, index=range(len(ids)), dtype="str"),
            "year": pd.array([pd.NA] * len(ids), dtype="Int64"),
            "genres": pd.Series([()] * len(ids), dtype=object),
        }
    )


def _build_users(table: AtomicTable) -> pd.DataFrame:
    if USER_FIELD not in table.types:
        raise DataError(f"the header has no {USER_FIELD} field", path=table.path, line=1)
    users = pd.DataFrame({"user_id": pd.Series(_ids(table, USER_FIELD), dtype="str")})
    for name in table.types:
        if name != USER_FIELD:
            users[name] = _convert(table, name)
    users, lines = table.good_rows(users)
    _check_unique(users["user_id"], USER_FIELD, table.path, lines)

    if table.types.get("age") == "token" and all(map(_is_integer_text, users["age"])):
        users["age"] = users["age"].astype("int64")
    return users


def _convert(table: AtomicTable, field: str) -> pd.Series:
    """Convert an extra field by its type: token to str, float to float64, sequences to tuples."""
    field_type = table.types[field]
    if field_type == "token":
        return pd.Series(table.values[field], dtype="str")
    if field_type == "float":
        return pd.Series(_numbers(table, field, allow_empty=True), dtype="float64")
    if field_type == "token_seq":
        return pd.Series(_token_tuples(table, field), dtype=object)
    return pd.Series(_float_tuples(table, field), dtype=object)


def _ids(table: AtomicTable, field: str) -> list[str]:
    if table.types[field] != "token":
        raise DataError(
            f"field {field} has type {table.types[field]}, expected token. Declare it as {field}:token.",
            path=table.path,
            line=1,
        )
    values = table.values[field]
    for row, value in enumerate(values):
        if not value.strip():
            table.report(row, f"empty {field} {value!r}")
    return values


def _numbers(table: AtomicTable, field: str, allow_empty: bool) -> np.ndarray:
    """Parse a float (or token) field as float64. An empty value is NaN when ``allow_empty``."""
    if table.types[field] not in ("float", "token"):
        raise DataError(
            f"field {field} has type {table.types[field]}, expected float. Declare it as {field}:float.",
            path=table.path,
            line=1,
        )
    numbers = np.full(len(table), np.nan)
    for row, value in enumerate(table.values[field]):
        if allow_empty and not value.strip():
            continue
        numbers[row] = _parse_float(value, field, table, row)
    return numbers


def _parse_float(value: str, field: str, table: AtomicTable, row: int) -> float:
    """Parse a finite float. A bad value is reported for ``row``, and gives NaN when the row is skipped."""
    try:
        number = float(value)
    except ValueError:
        table.report(row, f"invalid {field} {shorten(value)}, expected a number")
        return math.nan
    if not math.isfinite(number):
        table.report(row, f"invalid {field} {shorten(value)}, expected a finite number")
        return math.nan
    return number


def _timestamps(table: AtomicTable) -> np.ndarray:
    """Parse the timestamp field and round it to whole seconds."""
    seconds = _numbers(table, TIMESTAMP_FIELD, allow_empty=False)
    for row in np.flatnonzero(np.abs(seconds) >= 2**63):
        table.report(int(row), f"timestamp {table.values[TIMESTAMP_FIELD][row]!r} does not fit in a 64-bit integer")
    # Rows already reported hold NaN or a too large value, so they get 0 here and are dropped later.
    usable = np.isfinite(seconds) & (np.abs(seconds) < 2**63)
    return np.rint(np.where(usable, seconds, 0.0)).astype(np.int64)


def _years(table: AtomicTable) -> pd.arrays.IntegerArray:
    years: list[int | None] = []
    for row, value in enumerate(table.values[YEAR_FIELD]):
        number = _parse_float(value, YEAR_FIELD, table, row) if value.strip() else math.nan
        if math.isnan(number):
            years.append(None)
        elif number != int(number):
            table.report(row, f"invalid {YEAR_FIELD} {value!r}, expected a whole year")
            years.append(None)
        else:
            years.append(int(number))
    return pd.array(years, dtype="Int64")


def _token_tuples(table: AtomicTable, field: str) -> list[tuple[str, ...]]:
    """Split a token_seq field on spaces. A token field gives one-element tuples (or () when empty)."""
    if table.types[field] not in ("token_seq", "token"):
        raise DataError(
            f"field {field} has type {table.types[field]}, expected token_seq. Declare it as {field}:token_seq.",
            path=table.path,
            line=1,
        )
    return [tuple(token for token in value.split(" ") if token) for value in table.values[field]]


def _float_tuples(table: AtomicTable, field: str) -> list[tuple[float, ...]]:
    return [
        tuple(_parse_float(token, field, table, row) for token in value.split(" ") if token)
        for row, value in enumerate(table.values[field])
    ]


def _check_unique(ids: pd.Series, field: str, path: Path, lines: list[int]) -> None:
    """Raise DataError at the first repeated id, under both on_bad_rows policies. ``lines`` gives each row's line."""
    duplicated = ids.duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        value = ids.iloc[row]
        first = int(np.flatnonzero((ids == value).to_numpy())[0])
        raise DataError(
            f"duplicate {field} {value!r}, first listed on line {lines[first]}", path=path, line=lines[row]
        )


def _is_integer_text(value: str) -> bool:
    return value.strip().isascii() and value.strip().lstrip("+-").isdigit()
