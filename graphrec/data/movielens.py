"""Loaders for the MovieLens releases from GroupLens (https://grouplens.org/datasets/movielens/).

Only ml-100k is supported so far. Its files are u.data (tab-separated ratings),
u.item (movies, latin-1, '|'-separated) and u.user (users, '|'-separated).
"""

from __future__ import annotations

import codecs
import logging
import lzma
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from graphrec.data.bad_rows import BadRows, check_on_bad_rows
from graphrec.data.download import ML_100K, ArchiveSpec, ensure_dataset
from graphrec.data.tables import RawData
from graphrec.errors import DataError

logger = logging.getLogger(__name__)

ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

ML100K_FILES = ("u.data", "u.item", "u.user")

_RATING_COLUMNS = {"user_id": "int64", "item_id": "int64", "rating": "float64", "timestamp": "int64"}
_ITEM_COLUMNS = {
    "item_id": "int64",
    "title": "str",
    "release_date": "str",
    "video_release_date": "str",
    "imdb_url": "str",
    **{f"genre_{i}": "int64" for i in range(len(ML100K_GENRES))},
}
_USER_COLUMNS = {"user_id": "int64", "age": "int64", "gender": "str", "occupation": "str", "zip_code": "str"}

# Lower bounds of int64 columns. The README of ml-100k numbers users and items
# from 1 and gives timestamps in Unix seconds.
_MINIMUM = {"user_id": 1, "item_id": 1, "timestamp": 0, "age": 0}
_INT64_MIN = int(np.iinfo(np.int64).min)
_INT64_MAX = int(np.iinfo(np.int64).max)
# Numbers may have spaces around them. [0-9] is used instead of \d, which also
# matches non-ASCII digits that int() and float() would accept.
_INTEGER = re.compile(r" *[+-]?[0-9]+ *")
_DECIMAL = re.compile(r" *[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)? *")
_INTEGER_CHARACTERS = frozenset(" +-0123456789")
_DECIMAL_CHARACTERS = frozenset(" +-.0123456789eE")

# The last "(1995)" in a title. Some titles end with a suffix, as in "... (1995) (V)".
_TITLE_YEAR = re.compile(r".*\((\d{4})\)")
# The year of a release date such as "01-Jan-1995".
_DATE_YEAR = re.compile(r".*-(\d{4})\s*$")


class _Ml100kFiles:
    """Reads the ml-100k files from a folder or from the members of a zip archive."""

    def __init__(self, path: Path):
        self.path = path
        self.archive: zipfile.ZipFile | None = None
        self.handle: BinaryIO | None = None
        self.prefix = ""
        if path.is_dir():
            return
        if not path.exists():
            raise DataError("ml-100k data not found: expected the ml-100k folder or ml-100k.zip", path=path)
        if not path.is_file():
            raise DataError("not a regular file or folder: expected the ml-100k folder or ml-100k.zip", path=path)

        try:
            handle = path.open("rb")
        except OSError as err:
            raise DataError(f"could not read the file: {err}", path=path) from err
        try:
            self.archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, NotImplementedError, UnicodeDecodeError, OSError) as err:
            # Damaged archives also raise NotImplementedError (a bad "version
            # needed to extract"), UnicodeDecodeError (a bad UTF-8 member name)
            # and OSError (a seek to a negative offset).
            handle.close()
            raise DataError(
                f"invalid zip archive ({err}). Pass the ml-100k folder or an intact ml-100k.zip.",
                path=path,
            ) from err
        self.handle = handle
        self.prefix = self._find_prefix()

    def _find_prefix(self) -> str:
        """Return the folder inside the archive that contains u.data ("" or "name/")."""
        names = set(self.archive.namelist())
        if "u.data" in names:
            return ""
        for name in sorted(names):
            parts = name.split("/")
            if len(parts) == 2 and parts[1] == "u.data":
                return parts[0] + "/"
        return ML_100K.folder + "/"

    def location(self, filename: str) -> Path:
        """Return the path that messages use for ``filename`` (archive/member for a zip)."""
        if self.archive is not None:
            return self.path / (self.prefix + filename)
        return self.path / filename

    def read(self, filename: str) -> bytes:
        """Return the bytes of ``filename``, or raise DataError if it is missing or unreadable."""
        if self.archive is None:
            return self._read_file(filename)
        return self._read_member(filename)

    def _read_file(self, filename: str) -> bytes:
        expected = ", ".join(ML100K_FILES)
        file_path = self.path / filename
        if not file_path.exists():
            raise DataError(
                f"file not found. The ml-100k folder {self.path} must contain {expected}.",
                path=file_path,
            )
        # is_file() is False for folders, FIFOs and devices, which read_bytes could block on.
        if not file_path.is_file():
            raise DataError(f"not a regular file. The ml-100k folder {self.path} must contain {expected}.", path=file_path)
        try:
            return file_path.read_bytes()
        except OSError as err:
            raise DataError(f"could not read the file: {err}", path=file_path) from err

    def _read_member(self, filename: str) -> bytes:
        expected = ", ".join(ML100K_FILES)
        member = self.prefix + filename
        try:
            return self.archive.read(member)
        except KeyError:
            if member + "/" in self.archive.namelist():
                raise DataError(
                    f"archive member {member}/ is a folder, expected a file. The archive must contain "
                    f"{expected} at its top level or inside one top folder.",
                    path=self.path,
                ) from None
            raise DataError(
                f"archive has no member {member}. It must contain {expected} at its top level "
                "or inside one top folder.",
                path=self.path,
            ) from None
        except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, UnicodeDecodeError) as err:
            # A damaged member: a bad CRC, header or UTF-8 member name, or
            # corrupt or truncated compressed data (bz2 reports the latter as OSError).
            raise DataError(
                f"could not read archive member {member} ({err}). The archive is damaged, so download it again.",
                path=self.path,
            ) from err
        except (NotImplementedError, RuntimeError) as err:
            # zipfile raises these for an unsupported compression method and for encryption.
            raise DataError(
                f"could not read archive member {member} ({err}). Re-pack the archive as a plain zip, "
                "stored or deflated and without a password.",
                path=self.path,
            ) from err

    def source_files(self) -> list[Path]:
        if self.archive is not None:
            return [self.path]
        return [self.path / name for name in ML100K_FILES]

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()
        if self.handle is not None:
            self.handle.close()


def load_ml100k(path: Path, on_bad_rows: str = "error") -> RawData:
    """Read MovieLens 100K from the ml-100k folder or from ml-100k.zip.

    A zip is read in place, without extracting it. Ids are the raw int64 ids
    of the files. ``year`` comes from the "(1995)" in the title, else from the
    release date. ``source_files`` lists the three files of a folder, or the
    archive itself for a zip.

    Each file is decoded as UTF-8 when it is valid UTF-8, else as latin-1,
    the encoding GroupLens uses for u.item. A file that starts with a UTF-8
    byte order mark must be valid UTF-8. Lines may end in LF or CRLF. Spaces
    around a number are ignored, and text fields are kept as they are.

    Raises DataError for each problem below. The error names the file and,
    for a problem in one line, the 1-based line.

    - a missing, empty or unreadable file, or a damaged zip
    - a NUL byte, a UTF-16 file, a blank line or a wrong field count
    - a value that is not a number or does not fit in int64
    - an id below 1, a negative timestamp or age, a rating outside 1..5, or a
      genre flag other than 0 or 1
    - a duplicate item or user id
    - a rating of an item or user that u.item or u.user does not list

    With ``on_bad_rows="skip"`` the problems of one line are not raised:
    a blank line, a wrong field count, a bad value (the third and fourth
    items above) and a rating of an unlisted item or user. Such a line is
    dropped and the count is logged. The other problems still raise (see
    graphrec.data.bad_rows).
    """
    path = Path(path).expanduser()
    check_on_bad_rows(on_bad_rows)
    files = _Ml100kFiles(path)
    try:
        interactions = _read_table(files, "u.data", "\t", _RATING_COLUMNS, on_bad_rows)
        items = _read_table(files, "u.item", "|", _ITEM_COLUMNS, on_bad_rows)
        users = _read_table(files, "u.user", "|", _USER_COLUMNS, on_bad_rows)
    finally:
        files.close()

    items.keep(_good_genre_flags(items))
    _check_unique(items, "item_id")
    _check_unique(users, "user_id")
    interactions.keep(_known_ids(interactions, "item_id", items, "u.item"))
    interactions.keep(_known_ids(interactions, "user_id", users, "u.user"))
    for table in (interactions, items, users):
        table.bad.finish(table.lines_read, len(table.frame))

    logger.info(
        "read ml-100k from %s: %d ratings, %d items, %d users",
        path,
        len(interactions.frame),
        len(items.frame),
        len(users.frame),
    )
    return RawData(
        name="ml-100k",
        interactions=interactions.frame,
        items=_build_items(items.frame),
        users=users.frame,
        genres=list(ML100K_GENRES),
        source_files=files.source_files(),
    )


@dataclass
class _Table:
    """One parsed ml-100k file: its rows, the 1-based line of each row and the rows skipped so far."""

    frame: pd.DataFrame
    lines: np.ndarray
    bad: BadRows
    lines_read: int

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where ``mask`` is False."""
        if not mask.all():
            self.frame = self.frame[mask].reset_index(drop=True)
            self.lines = self.lines[mask]


def _read_table(files: _Ml100kFiles, filename: str, sep: str, columns: dict[str, str], on_bad_rows: str) -> _Table:
    """Parse one file into a DataFrame with the given column names and dtypes.

    Every line is one row. A bad line raises DataError, or is dropped and
    recorded when ``on_bad_rows`` is "skip".
    """
    location = files.location(filename)
    bad = BadRows(location, on_bad_rows)
    text = _decode(files.read(filename), location)
    rows, lines = _split_lines(text, sep, len(columns), location, bad)
    lines_read = len(lines) + bad.count
    if not rows:
        bad.finish(lines_read, 0)

    parsed = {}
    problems = []
    for index, (column, dtype) in enumerate(columns.items()):
        values = [fields[index] for fields in rows]
        if dtype == "int64":
            parsed[column], column_problems = _parse_integers(values, column)
        elif dtype == "float64":
            parsed[column], column_problems = _parse_ratings(values, column)
        else:
            parsed[column], column_problems = pd.Series(values, dtype=dtype), []
        problems.extend(column_problems)

    table = _Table(pd.DataFrame(parsed), lines, bad, lines_read)
    if problems:
        # Under "error" the first report raises, so report the first bad row first.
        for row, message in sorted(problems):
            bad.report(int(lines[row]), message)
        table.keep(bad.kept(lines))
    return table


def _decode(data: bytes, location: Path) -> str:
    """Decode a file as UTF-8 if it is valid UTF-8, else as latin-1."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(
            "the file starts with a UTF-16 or UTF-32 byte order mark. Save it as latin-1 or UTF-8 text.",
            path=location,
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError(
            f"NUL byte at byte offset {nul}, so the file is binary, UTF-16 or UTF-32. Save it as latin-1 or UTF-8 text.",
            path=location,
            line=data.count(b"\n", 0, nul) + 1,
        )

    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8) :]
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as err:
            offset = err.start + len(codecs.BOM_UTF8)
            raise DataError(
                f"invalid UTF-8 byte 0x{data[offset]:02x}, but the file starts with a UTF-8 byte order mark. "
                "Save the file as UTF-8 throughout, or as latin-1 without the mark.",
                path=location,
                line=data.count(b"\n", 0, offset) + 1,
            ) from err

    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _split_lines(
    text: str, sep: str, expected: int, location: Path, bad: BadRows
) -> tuple[list[list[str]], np.ndarray]:
    """Split ``text`` into lines of ``expected`` fields, and return them with their 1-based line numbers.

    A line with another field count goes to ``bad``, so it raises or is left out.
    """
    text = text.replace("\r\n", "\n")
    lone_cr = text.find("\r")
    if lone_cr >= 0:
        raise DataError(
            "carriage return (\\r) that does not end a line. Convert the file to LF or CRLF line endings.",
            path=location,
            line=text.count("\n", 0, lone_cr) + 1,
        )

    # str.splitlines would also break at \x0b, \x1c, \x85 and other characters
    # that latin-1 titles may contain, so only "\n" ends a line.
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        raise DataError(f"the file is empty, expected lines of {expected} fields separated by {sep!r}", path=location)

    rows = [line.split(sep) for line in lines]
    if set(map(len, rows)) == {expected}:
        return rows, np.arange(1, len(rows) + 1, dtype=np.int64)

    kept_rows = []
    kept_lines = []
    for number, (line, fields) in enumerate(zip(lines, rows), start=1):
        if len(fields) == expected:
            kept_rows.append(fields)
            kept_lines.append(number)
        elif not line.strip():
            bad.report(number, f"blank line, expected {expected} fields separated by {sep!r}")
        else:
            bad.report(number, f"expected {expected} fields separated by {sep!r}, got {len(fields)}: {_shorten(line)}")
    return kept_rows, np.array(kept_lines, dtype=np.int64)


def _parse_integers(values: list[str], column: str) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Convert ``values`` to int64, and list each bad row as (row, message).

    A bad row gets the placeholder 0 in the array.
    """
    minimum = _MINIMUM.get(column, _INT64_MIN)

    # Fast path for well-formed columns. With only these characters, int()
    # accepts exactly what _INTEGER matches, and 18 characters always fit in int64.
    if _INTEGER_CHARACTERS.issuperset("".join(values)) and max(map(len, values)) <= 18:
        try:
            numbers = np.array(list(map(int, values)), dtype=np.int64)
        except ValueError:
            numbers = None
        if numbers is not None and numbers.min() >= minimum:
            return numbers, []

    return _parse_integers_one_by_one(values, column, minimum)


def _parse_integers_one_by_one(
    values: list[str], column: str, minimum: int
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    numbers = np.zeros(len(values), dtype=np.int64)
    problems = []
    for row, value in enumerate(values):
        if not _INTEGER.fullmatch(value):
            problems.append((row, f"invalid {column} {_shorten(value)}, expected an integer"))
            continue
        # The digit count is checked first because int() rejects strings of
        # more than 4300 digits (the default limit since Python 3.11) with a ValueError.
        digits = value.strip(" ").lstrip("+-").lstrip("0")
        number = int(value) if len(digits) <= 19 else None
        if number is None or not _INT64_MIN <= number <= _INT64_MAX:
            problems.append((row, f"{column} {_shorten(value.strip(' '))} does not fit in a 64-bit integer"))
        elif number < minimum:
            problems.append((row, f"invalid {column} {number}, expected an integer of at least {minimum}"))
        else:
            numbers[row] = number
    return numbers, problems


def _parse_ratings(values: list[str], column: str) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Convert ``values`` to float64 ratings in 1..5, and list each bad row as (row, message).

    A bad row gets the placeholder NaN in the array.
    """
    # Fast path for well-formed columns. With only these characters, float()
    # accepts exactly what _DECIMAL matches.
    if _DECIMAL_CHARACTERS.issuperset("".join(values)):
        try:
            numbers = np.array(list(map(float, values)), dtype=np.float64)
        except ValueError:
            numbers = None
        if numbers is not None and ((numbers >= 1) & (numbers <= 5)).all():
            return numbers, []

    numbers = np.full(len(values), np.nan)
    problems = []
    for row, value in enumerate(values):
        # The pattern rejects "nan", "inf" and "1_0", which float() would accept.
        if not _DECIMAL.fullmatch(value):
            problems.append((row, f"invalid {column} {_shorten(value)}, expected a number"))
            continue
        number = float(value)
        if 1 <= number <= 5:
            numbers[row] = number
        else:
            problems.append((row, f"{column} {number:g} is outside 1..5"))
    return numbers, problems


def _shorten(value: str) -> str:
    """Return the repr of ``value`` cut to 40 characters, for error messages."""
    if len(value) > 40:
        return repr(value[:40]) + "..."
    return repr(value)


def _good_genre_flags(items: _Table) -> np.ndarray:
    """Report each u.item row with a genre flag other than 0 or 1, and return the mask of the other rows."""
    flags = items.frame[_genre_columns()].to_numpy()
    bad_rows, bad_columns = np.nonzero((flags != 0) & (flags != 1))
    for row, column in zip(bad_rows, bad_columns):
        items.bad.report(
            int(items.lines[row]), f"genre flag for {ML100K_GENRES[column]} is {flags[row, column]}, expected 0 or 1"
        )
    keep = np.ones(len(flags), dtype=bool)
    keep[bad_rows] = False
    return keep


def _check_unique(table: _Table, column: str) -> None:
    """Raise DataError at the first repeated id. A duplicate id is a file-level problem, so it is never skipped."""
    ids = table.frame[column]
    duplicated = ids.duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        value = ids.iloc[row]
        first = int(np.flatnonzero((ids == value).to_numpy())[0])
        raise DataError(
            f"duplicate {column} {value}, first listed on line {table.lines[first]}",
            path=table.bad.path,
            line=int(table.lines[row]),
        )


def _known_ids(interactions: _Table, column: str, table: _Table, table_file: str) -> np.ndarray:
    """Report each rating whose ``column`` value is missing from ``table``, and return the mask of the other rows."""
    known = interactions.frame[column].isin(table.frame[column]).to_numpy()
    for row in np.flatnonzero(~known):
        value = interactions.frame[column].iloc[row]
        interactions.bad.report(
            int(interactions.lines[row]),
            f"{column} {value} is not listed in {table_file}. Use the u.data, u.item and u.user "
            "of the same ml-100k release.",
        )
    return known


def _genre_columns() -> list[str]:
    return [f"genre_{i}" for i in range(len(ML100K_GENRES))]


def _build_items(raw: pd.DataFrame) -> pd.DataFrame:
    """Turn the parsed u.item columns into item_id, title, year and genres."""
    flags = raw[_genre_columns()].to_numpy().astype(bool)
    genres = [tuple(name for name, flag in zip(ML100K_GENRES, row) if flag) for row in flags]

    years = [_parse_year(title, date) for title, date in zip(raw["title"], raw["release_date"])]

    return pd.DataFrame(
        {
            "item_id": raw["item_id"],
            "title": raw["title"],
            "year": pd.array(years, dtype="Int64"),
            "genres": pd.Series(genres, index=raw.index, dtype=object),
        }
    )


def _parse_year(title: str, release_date: str) -> int | None:
    match = _TITLE_YEAR.match(title) or _DATE_YEAR.match(release_date)
    return int(match.group(1)) if match else None


Loader = Callable[[Path, str], RawData]

# Release name -> (archive to fetch, loader for the extracted folder).
_RELEASES: dict[str, tuple[ArchiveSpec, Loader]] = {
    "ml-100k": (ML_100K, load_ml100k),
}


def load_movielens(name: str, data_root: Path, download: bool = True, on_bad_rows: str = "error") -> RawData:
    """Load the MovieLens release ``name`` from ``data_root``, downloading it if needed.

    ``on_bad_rows`` ("error" or "skip") is passed to the release's loader.
    Raises DataError for an unknown name, and the errors of ensure_dataset and
    of the release's loader.
    """
    if name not in _RELEASES:
        known = ", ".join(sorted(_RELEASES))
        raise DataError(f"unknown MovieLens release {name!r}. Known releases: {known}.")

    check_on_bad_rows(on_bad_rows)
    spec, loader = _RELEASES[name]
    folder = ensure_dataset(spec, Path(data_root).expanduser(), download)
    return loader(folder, on_bad_rows)
