"""Loader for the multi-domain Douban sample (books, movies, music) in ``douban_sample.csv``.

The file is a UTF-8 CSV with the header
``user_id,item_id,rating,domain,living_place,join_time,time_bin``, one
interaction per row. It comes preprocessed from the Scenario-Wise-Rec
benchmark: ``rating`` is already binary (1 when the original rating was above
3), item ids of the three domains do not overlap, and there is no
per-interaction timestamp. ``join_time`` is the user's registration date and
``time_bin`` a bucket derived by the benchmark, both per user.

RawData.interactions from this loader carries one extra column, ``domain``,
besides the standard four, so that a scenario spec can read the scenario of
each interaction from it.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.data.bad_rows import BadRows, RowError, check_on_bad_rows, csv_rows, decode_utf8, shorten
from graphrec.data.tables import RawData
from graphrec.errors import DataError

logger = logging.getLogger(__name__)

DOUBAN_FOLDER = "douban-multidomain-sample"
DOUBAN_FILE = "douban_sample.csv"
DOUBAN_COLUMNS = ["user_id", "item_id", "rating", "domain", "living_place", "join_time", "time_bin"]
USER_COLUMNS = ("living_place", "join_time", "time_bin")

_INTEGER = re.compile(r"[0-9]+")


def load_douban_sample(path: Path, on_bad_rows: str = "error") -> RawData:
    """Read the Douban sample from its folder or from ``douban_sample.csv`` itself.

    ``interactions`` has int64 ids, ``rating`` 0.0 or 1.0, ``timestamp`` 0 for
    every row and the extra column ``domain`` (str). ``items`` has no title,
    year or genres, and a ``domain`` column. ``users`` has ``living_place``
    (Chinese place names, <NA> where empty), ``join_time`` (a YYYY-MM-DD
    string) and ``time_bin`` (int64).

    Raises DataError for a missing file, a file that is not UTF-8, a wrong
    header or a wrong field count. It is also raised for a non-integer id or
    time_bin, a rating other than 0 or 1, an empty domain, an item listed
    under two domains, and a user whose user columns differ between rows. The
    error names the file and the 1-based line.

    With ``on_bad_rows="skip"`` a row with a wrong field count, a bad number
    or rating or an empty domain is dropped and counted instead. An item under
    two domains and a user with differing user columns still raise, because
    the file cannot tell which row is right (see graphrec.data.bad_rows).
    """
    check_on_bad_rows(on_bad_rows)
    path = Path(path).expanduser()
    csv_path = path / DOUBAN_FILE if path.is_dir() else path
    if not csv_path.is_file():
        raise DataError(
            f"Douban sample not found: expected {DOUBAN_FILE}, or a folder that contains it", path=csv_path
        )

    rows, lines = _read_rows(csv_path, BadRows(csv_path, on_bad_rows))
    frame = pd.DataFrame(rows, columns=DOUBAN_COLUMNS)
    frame = frame.astype({"user_id": "int64", "item_id": "int64", "time_bin": "int64"})
    line_of = np.array(lines)

    interactions = pd.DataFrame(
        {
            "user_id": frame["user_id"],
            "item_id": frame["item_id"],
            "rating": frame["rating"].astype("float64"),
            "timestamp": np.zeros(len(frame), dtype=np.int64),
            "domain": frame["domain"].astype("str"),
        }
    )
    items = _per_entity(frame, "item_id", ["domain"], line_of, csv_path)
    items = pd.DataFrame(
        {
            "item_id": items["item_id"],
            "title": pd.Series(pd.NA, index=items.index, dtype="str"),
            "year": pd.array([pd.NA] * len(items), dtype="Int64"),
            "genres": pd.Series([()] * len(items), index=items.index, dtype=object),
            "domain": items["domain"].astype("str"),
        }
    )
    users = _per_entity(frame, "user_id", list(USER_COLUMNS), line_of, csv_path)
    users = users.astype({"living_place": "str", "join_time": "str"})
    users["living_place"] = users["living_place"].replace("", pd.NA)

    logger.info(
        "read %s: %d interactions, %d users, %d items, domains %s",
        csv_path,
        len(interactions),
        len(users),
        len(items),
        interactions["domain"].value_counts().to_dict(),
    )
    return RawData(
        name="douban-sample", interactions=interactions, items=items, users=users, genres=[], source_files=[csv_path]
    )


def _read_rows(path: Path, bad: BadRows) -> tuple[list[list[str]], list[int]]:
    """Return the checked data rows and the 1-based line of each. Bad rows go to ``bad``."""
    text = decode_utf8(path.read_bytes(), path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise DataError(f"malformed CSV header: {err}", path=path, line=reader.line_num) from err
    if header != DOUBAN_COLUMNS:
        raise DataError(f"expected the header {','.join(DOUBAN_COLUMNS)}, got {header}", path=path, line=1)

    rows: list[list[str]] = []
    lines: list[int] = []
    for line, fields in csv_rows(reader, bad):
        try:
            _check_row(fields)
        except RowError as err:
            bad.report(line, str(err))
            continue
        rows.append(fields)
        lines.append(line)

    if not rows and not bad.count:
        raise DataError("the file has no interactions", path=path)
    bad.finish(len(rows) + bad.count, len(rows))
    logger.info("read %s: %d rows", path, len(rows))
    return rows, lines


def _check_row(fields: list[str]) -> None:
    """Raise RowError unless ``fields`` is a well-formed data row."""
    if len(fields) != len(DOUBAN_COLUMNS):
        if not fields:
            raise RowError(f"blank line, expected {len(DOUBAN_COLUMNS)} comma-separated fields")
        raise RowError(
            f"got {len(fields)} fields, expected {len(DOUBAN_COLUMNS)} comma-separated fields: "
            f"{shorten(','.join(fields))}"
        )
    user_id, item_id, rating, domain, _, _, time_bin = fields
    for column, value in (("user_id", user_id), ("item_id", item_id), ("time_bin", time_bin)):
        if not _INTEGER.fullmatch(value) or len(value) > 18:
            raise RowError(f"invalid {column} {shorten(value)}, expected a non-negative integer")
    if rating not in ("0", "1"):
        raise RowError(f"invalid rating {shorten(rating)}, expected 0 or 1 because the sample's ratings are binary")
    if not domain.strip():
        raise RowError(f"empty domain {domain!r}, expected the scenario name (book, movie or music)")


def _per_entity(
    frame: pd.DataFrame, key: str, columns: list[str], line_of: np.ndarray, path: Path
) -> pd.DataFrame:
    """Return one row per ``key`` with ``columns``, raising DataError when an entity's values differ between rows."""
    table = frame[[key, *columns]]
    distinct = table.drop_duplicates()
    conflict = distinct[key].duplicated(keep=False)
    if conflict.any():
        entity = distinct[key][conflict].iloc[0]
        rows = np.flatnonzero((frame[key] == entity).to_numpy())
        first = rows[0]
        other = next(row for row in rows if not table.iloc[row].equals(table.iloc[first]))
        raise DataError(
            f"{key} {entity} has {', '.join(columns)} {list(table.iloc[other][columns])} here but "
            f"{list(table.iloc[first][columns])} on line {line_of[first]}",
            path=path,
            line=int(line_of[other]),
        )
    return distinct.reset_index(drop=True)
