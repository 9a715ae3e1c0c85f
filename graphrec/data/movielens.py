"""Loaders for the MovieLens releases from GroupLens (https://grouplens.org/datasets/movielens/).

Only ml-100k is supported so far. Its files are u.data (tab-separated ratings),
u.item (movies, latin-1, '|'-separated) and u.user (users, '|'-separated).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

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

# The last "(1995)" in a title. Some titles end with a suffix, as in "... (1995) (V)".
_TITLE_YEAR = re.compile(r".*\((\d{4})\)")
# The year of a release date such as "01-Jan-1995".
_DATE_YEAR = re.compile(r".*-(\d{4})\s*$")


class _Ml100kFiles:
    """Reads the ml-100k files from a folder or from the members of a zip archive."""

    def __init__(self, path: Path):
        self.path = path
        self.archive: zipfile.ZipFile | None = None
        self.prefix = ""
        if path.is_dir():
            return
        if not path.is_file():
            raise DataError("ml-100k data not found: expected the ml-100k folder or ml-100k.zip", path=path)

        try:
            self.archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as err:
            raise DataError(f"invalid zip archive: {err}", path=path) from err
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
        expected = ", ".join(ML100K_FILES)
        if self.archive is None:
            file_path = self.path / filename
            if not file_path.is_file():
                raise DataError(
                    f"file not found. The ml-100k folder {self.path} must contain {expected}.",
                    path=file_path,
                )
            return file_path.read_bytes()

        member = self.prefix + filename
        try:
            return self.archive.read(member)
        except KeyError:
            raise DataError(
                f"archive has no member {member}. It must contain {expected} at its top level "
                "or inside one top folder.",
                path=self.path,
            ) from None

    def source_files(self) -> list[Path]:
        if self.archive is not None:
            return [self.path]
        return [self.path / name for name in ML100K_FILES]

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def load_ml100k(path: Path) -> RawData:
    """Read MovieLens 100K from the ml-100k folder or from ml-100k.zip.

    A zip is read in place, without extracting it. Ids are the raw int64 ids
    of the files. ``year`` comes from the "(1995)" in the title, else from the
    release date. ``source_files`` lists the three files of a folder, or the
    archive itself for a zip.

    Raises DataError for a missing file, a wrong field count, a non-numeric id
    or number, a rating outside 1..5, a genre flag other than 0 or 1, or a
    duplicate item or user id. The error names the file and, where known, the
    1-based line.
    """
    path = Path(path).expanduser()
    files = _Ml100kFiles(path)
    try:
        interactions = _read_table(files, "u.data", "\t", _RATING_COLUMNS)
        items = _read_table(files, "u.item", "|", _ITEM_COLUMNS)
        users = _read_table(files, "u.user", "|", _USER_COLUMNS)
    finally:
        files.close()

    _check_ratings(interactions, files.location("u.data"))
    _check_genre_flags(items, files.location("u.item"))
    _check_unique(items, "item_id", files.location("u.item"))
    _check_unique(users, "user_id", files.location("u.user"))

    logger.info(
        "read ml-100k from %s: %d ratings, %d items, %d users",
        path,
        len(interactions),
        len(items),
        len(users),
    )
    return RawData(
        name="ml-100k",
        interactions=interactions,
        items=_build_items(items),
        users=users,
        genres=list(ML100K_GENRES),
        source_files=files.source_files(),
    )


def _read_table(files: _Ml100kFiles, filename: str, sep: str, columns: dict[str, str]) -> pd.DataFrame:
    """Parse one file with the given column names and dtypes, after checking its layout."""
    location = files.location(filename)
    data = files.read(filename)
    _check_field_counts(data, sep, len(columns), location)

    def parse(dtypes: dict[str, str] | type) -> pd.DataFrame:
        return pd.read_csv(
            io.BytesIO(data),
            sep=sep,
            header=None,
            names=list(columns),
            dtype=dtypes,
            encoding="latin-1",
            quoting=csv.QUOTE_NONE,
            na_filter=False,
            index_col=False,
        )

    try:
        return parse(columns)
    except ValueError as err:
        # Re-read as text to find the first value that failed to convert.
        _raise_first_bad_number(parse(str), columns, location)
        raise DataError(f"could not parse the file: {err}", path=location) from err


def _check_field_counts(data: bytes, sep: str, expected: int, location: Path) -> None:
    """Raise DataError at the first line that does not have ``expected`` fields."""
    separator = sep.encode("ascii")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataError(f"blank line, expected {expected} fields separated by {sep!r}", path=location, line=number)
        count = line.count(separator) + 1
        if count != expected:
            raise DataError(
                f"expected {expected} fields separated by {sep!r}, got {count}",
                path=location,
                line=number,
            )


def _raise_first_bad_number(text: pd.DataFrame, columns: dict[str, str], location: Path) -> None:
    """Raise DataError at the first row whose int64 or float64 column fails to parse."""
    first_row = None
    first_column = None
    for column, dtype in columns.items():
        if dtype == "int64":
            bad = ~text[column].str.fullmatch(r"\s*[+-]?\d+\s*")
        elif dtype == "float64":
            bad = pd.to_numeric(text[column], errors="coerce").isna()
        else:
            continue
        positions = np.flatnonzero(bad.to_numpy(dtype=bool))
        if len(positions) and (first_row is None or positions[0] < first_row):
            first_row = int(positions[0])
            first_column = column

    if first_row is not None:
        kind = "an integer" if columns[first_column] == "int64" else "a number"
        value = text[first_column].iloc[first_row]
        raise DataError(f"invalid {first_column} {value!r}, expected {kind}", path=location, line=first_row + 1)


def _check_ratings(interactions: pd.DataFrame, location: Path) -> None:
    outside = ~interactions["rating"].between(1, 5)
    if outside.any():
        row = int(np.flatnonzero(outside.to_numpy())[0])
        rating = interactions["rating"].iloc[row]
        raise DataError(f"rating {rating:g} is outside 1..5", path=location, line=row + 1)


def _check_genre_flags(items: pd.DataFrame, location: Path) -> None:
    flags = items[_genre_columns()].to_numpy()
    bad_rows, bad_columns = np.nonzero((flags != 0) & (flags != 1))
    if len(bad_rows):
        row = int(bad_rows[0])
        genre = ML100K_GENRES[bad_columns[0]]
        value = flags[row, bad_columns[0]]
        raise DataError(f"genre flag for {genre} is {value}, expected 0 or 1", path=location, line=row + 1)


def _check_unique(table: pd.DataFrame, column: str, location: Path) -> None:
    duplicated = table[column].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise DataError(f"duplicate {column} {table[column].iloc[row]}", path=location, line=row + 1)


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


Loader = Callable[[Path], RawData]

# Release name -> (archive to fetch, loader for the extracted folder).
_RELEASES: dict[str, tuple[ArchiveSpec, Loader]] = {
    "ml-100k": (ML_100K, load_ml100k),
}


def load_movielens(name: str, data_root: Path, download: bool = True) -> RawData:
    """Load the MovieLens release ``name`` from ``data_root``, downloading it if needed.

    Raises DataError for an unknown name, and the errors of ensure_dataset and
    of the release's loader.
    """
    if name not in _RELEASES:
        known = ", ".join(sorted(_RELEASES))
        raise DataError(f"unknown MovieLens release {name!r}. Known releases: {known}.")

    spec, loader = _RELEASES[name]
    folder = ensure_dataset(spec, Path(data_root).expanduser(), download)
    return loader(folder)
