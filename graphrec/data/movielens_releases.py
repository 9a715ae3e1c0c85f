"""Loaders and archive specs for the MovieLens releases after ml-100k.

GroupLens (https://grouplens.org/datasets/movielens/) ships two layouts:

* '::'-separated ``.dat`` files. ml-1m has ``ratings.dat``, ``movies.dat`` and
  ``users.dat`` (latin-1). ml-10m (folder ``ml-10M100K``) has ``ratings.dat``,
  ``movies.dat`` and ``tags.dat``.
* CSV files with a header line: ``ratings.csv``, ``movies.csv`` (titles with
  commas are quoted) and ``tags.csv``, in ml-latest-small, ml-latest, ml-20m,
  ml-25m and ml-32m.

Every loader returns RawData with int64 ids. ``items`` gets a ``tags`` column
besides the usual ones: the sorted distinct tags of the item, or an empty
tuple. Only ml-1m has a users table.

Memory: a first pass counts the lines of the ratings file. The result (int64
ids and timestamps, float64 ratings: 32 bytes per rating) is then allocated
once and filled in blocks of ``chunk_rows`` lines, which pandas parses with
fixed dtypes. Beyond the result, one block is held at a time: about 200
bytes per line of the block, some 20 MB at the default. On a synthetic
5-million-line ratings.csv (Python 3.11, pandas 3.0.6, numpy 1.26) the peak
resident memory rose by about 46 bytes per rating, which suggests about 1.5 GB
for the roughly 32 million ratings of ml-32m. Movies, users and tags are read
whole.
"""

from __future__ import annotations

import csv
import http.client
import io
import itertools
import logging
import math
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from graphrec.data.bad_rows import BadRows, RowError, check_on_bad_rows, csv_rows, reject_utf16
from graphrec.data.download import (
    DOWNLOAD_TIMEOUT_S,
    ArchiveSpec,
    download_file,
    file_md5,
    safe_extract_zip,
)
from graphrec.data.tables import RawData
from graphrec.errors import DataError, DownloadError

logger = logging.getLogger(__name__)

BASE_URL = "https://files.grouplens.org/datasets/movielens/"

# NOTE: ArchiveSpec annotates size as int and md5 as str. None marks a value
# that GroupLens does not state next to the archive, and ensure_release accepts it.
ML_1M = ArchiveSpec(
    "ml-1m", BASE_URL + "ml-1m.zip", None, "c4d9eecfca2ab87c1945afe126590906", "ml-1m", "ratings.dat"
)
ML_10M = ArchiveSpec("ml-10m", BASE_URL + "ml-10m.zip", None, None, "ml-10M100K", "ratings.dat")
ML_20M = ArchiveSpec("ml-20m", BASE_URL + "ml-20m.zip", None, None, "ml-20m", "ratings.csv")
ML_25M = ArchiveSpec(
    "ml-25m", BASE_URL + "ml-25m.zip", None, "6b51fb2759a8657d3bfcbfc42b592ada", "ml-25m", "ratings.csv"
)
ML_32M = ArchiveSpec("ml-32m", BASE_URL + "ml-32m.zip", None, None, "ml-32m", "ratings.csv")
# The ml-latest-small README calls these development datasets that "may change
# over time", so no md5 is pinned and only the published one can check them.
ML_LATEST_SMALL = ArchiveSpec(
    "ml-latest-small", BASE_URL + "ml-latest-small.zip", None, None, "ml-latest-small", "ratings.csv"
)
ML_LATEST = ArchiveSpec("ml-latest", BASE_URL + "ml-latest.zip", None, None, "ml-latest", "ratings.csv")

DEFAULT_CHUNK_ROWS = 100_000
# The largest .md5 file fetch_published_md5 accepts, in bytes. One digest line needs far less.
MAX_MD5_FILE_BYTES = 4096

RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
_RATING_DTYPES = {"user_id": "int64", "item_id": "int64", "rating": "float64", "timestamp": "int64"}
_CSV_HEADERS = {
    "ratings.csv": ["userId", "movieId", "rating", "timestamp"],
    "movies.csv": ["movieId", "title", "genres"],
    "tags.csv": ["userId", "movieId", "tag", "timestamp"],
}
NO_GENRES = "(no genres listed)"

# Occupation codes of users.dat, from the ml-1m README.
ML1M_OCCUPATIONS = (
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)
# Age codes of users.dat. Each is the lower bound of its range ("18" is 18-24, "56" is 56+).
ML1M_AGE_CODES = (1, 18, 25, 35, 45, 50, 56)

# A year in parentheses at the end of a title, as in "Toy Story (1995)".
_TITLE_YEAR = re.compile(r"\((\d{4})\)\s*$")
# [0-9] instead of \d, which also matches non-ASCII digits that int() accepts.
_INTEGER = re.compile(r" *[+-]?[0-9]+ *")
_DECIMAL = re.compile(r" *[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)? *")
_MD5_BSD = re.compile(r"MD5 \((?P<name>.+)\) = (?P<digest>[0-9a-fA-F]{32})")
_MD5_GNU = re.compile(r"(?P<digest>[0-9a-fA-F]{32}) [ *](?P<name>.+)")
_MD5_BARE = re.compile(r"(?P<digest>[0-9a-fA-F]{32})")


@dataclass(frozen=True)
class _RatingsFormat:
    """Layout of one release's ratings file: separator, header line and rating range."""

    separator: bytes
    header: list[str] | None
    min_rating: float
    max_rating: float


_DAT_RATINGS_1M = _RatingsFormat(b"::", None, 1.0, 5.0)
_DAT_RATINGS_10M = _RatingsFormat(b"::", None, 0.5, 5.0)
_CSV_RATINGS = _RatingsFormat(b",", _CSV_HEADERS["ratings.csv"], 0.5, 5.0)


# --------------------------------------------------------------------------
# Published checksums and archives


def fetch_published_md5(url: str) -> str:
    """Download ``url + ".md5"``, the checksum GroupLens publishes beside each archive, and return its digest.

    Accepts the BSD form ``MD5 (ml-25m.zip) = <hex>``, the GNU form
    ``<hex>  ml-25m.zip`` and a bare digest. Returns the lowercase hex digest.
    Raises DownloadError when the request fails or times out, when the file is
    larger than MAX_MD5_FILE_BYTES or has no digest, or when it names a file
    other than the archive of ``url``.
    """
    md5_url = url + ".md5"
    try:
        with urllib.request.urlopen(md5_url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            body = response.read(MAX_MD5_FILE_BYTES + 1)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"download of the checksum file {md5_url} failed: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        raise DownloadError(f"download of the checksum file {md5_url} failed: {reason}") from err

    if len(body) > MAX_MD5_FILE_BYTES:
        raise DownloadError(
            f"checksum file {md5_url} is larger than {MAX_MD5_FILE_BYTES} bytes, so it is not an md5 file"
        )
    text = body.decode("ascii", errors="replace").strip()
    return _parse_md5_file(text, md5_url, PurePosixPath(urlsplit(url).path).name)


def _parse_md5_file(text: str, md5_url: str, archive_name: str) -> str:
    first_line = text.splitlines()[0].strip() if text else ""
    for pattern in (_MD5_BSD, _MD5_GNU, _MD5_BARE):
        match = pattern.fullmatch(first_line)
        if match is None:
            continue
        name = match.groupdict().get("name")
        if name is not None and name.lstrip("*") != archive_name:
            raise DownloadError(
                f"checksum file {md5_url} is for {name!r}, not for {archive_name!r}. "
                "Check the archive URL."
            )
        return match.group("digest").lower()
    raise DownloadError(f"checksum file {md5_url} has no md5 digest: it starts with {first_line[:80]!r}")


def resolve_expected_md5(spec: ArchiveSpec) -> str:
    """Return the md5 an archive download must match: the pinned one, checked against the published one.

    Without a pinned md5 the published one is returned. Raises DownloadError
    when the two disagree, and when there is no pinned md5 and the published
    one cannot be fetched. When the published md5 cannot be fetched but a
    pinned one exists, a warning is logged and the pinned one is returned.
    """
    try:
        published = fetch_published_md5(spec.url)
    except DownloadError as err:
        if spec.md5 is None:
            raise DownloadError(
                f"cannot verify {spec.name}.zip, which has no pinned md5: {err}. "
                f"Download {spec.url} by other means and place it in the data root."
            ) from err
        logger.warning("using the pinned md5 of %s only, because %s", spec.name, err)
        return spec.md5

    if spec.md5 is not None and spec.md5.lower() != published:
        raise DownloadError(
            f"the pinned md5 {spec.md5} of {spec.name}.zip differs from the md5 {published} that GroupLens "
            f"publishes at {spec.url}.md5. The release may have been replaced: check it and update the pin."
        )
    return published


def ensure_release(spec: ArchiveSpec, root: Path, download: bool = True) -> Path:
    """Return ``root / spec.folder``, extracting or downloading ``spec``'s archive first if needed.

    Unlike ensure_dataset this accepts a spec without a pinned size or md5.
    An archive already at ``root / (spec.name + ".zip")`` is checked against
    the pinned md5, or else against the published one when ``download`` is
    true. An archive that cannot be checked is extracted with a warning. A
    download is always checked (see resolve_expected_md5). Raises
    DownloadError for a failed download, a wrong checksum or a bad archive,
    and DataError when the data is absent and ``download`` is false.
    """
    root = Path(root).expanduser()
    folder = root / spec.folder
    archive = root / f"{spec.name}.zip"
    if folder.is_dir():
        logger.info("using %s", folder)
        return folder

    if archive.is_file():
        _verify_local_archive(spec, archive, download)
    elif download:
        expected_md5 = resolve_expected_md5(spec)
        root.mkdir(parents=True, exist_ok=True)
        download_file(spec.url, archive, spec.size, expected_md5)
    else:
        raise DataError(
            f"{spec.name} not found under {root} and downloading is off. "
            f"Download {spec.url} and place it at {archive}, or extract it so that "
            f"{folder / (spec.expected_file or '')} exists."
        )

    logger.info("extracting %s into %s", archive, root)
    safe_extract_zip(archive, root)
    if not folder.is_dir():
        raise DownloadError(f"archive has no top folder {spec.folder}/. Delete it and run again.", path=archive)
    return folder


def _verify_local_archive(spec: ArchiveSpec, archive: Path, download: bool) -> None:
    expected = spec.md5
    if expected is None and download:
        try:
            expected = fetch_published_md5(spec.url)
        except DownloadError as err:
            logger.warning("extracting %s without a checksum check: %s", archive, err)
            return
    if expected is None:
        logger.warning("extracting %s without a checksum check: no pinned md5 and downloading is off", archive)
        return

    actual = file_md5(archive)
    if actual != expected.lower():
        raise DownloadError(
            f"corrupt archive: expected md5 {expected}, got {actual}. "
            "Delete this file and run again to download it, or replace it with a good copy.",
            path=archive,
        )


# --------------------------------------------------------------------------
# Loaders


def load_ml1m(folder: Path, chunk_rows: int = DEFAULT_CHUNK_ROWS, on_bad_rows: str = "error") -> RawData:
    """Read MovieLens 1M from its folder: ratings.dat, movies.dat and users.dat.

    ``users`` has ``user_id``, ``gender`` ("M" or "F"), ``age`` (the lower
    bound of the age range that users.dat codes: 1, 18, 25, 35, 45, 50 or 56),
    ``occupation`` (the name for the README's code 0..20) and ``zip_code``.
    Raises DataError for a missing file, a malformed line (with its 1-based
    number), a duplicate id, or a rating of a movie or user that movies.dat or
    users.dat does not list. With ``on_bad_rows="skip"`` a malformed line or
    a rating of an unlisted movie or user is dropped and counted instead (see
    graphrec.data.bad_rows).
    """
    check_on_bad_rows(on_bad_rows)
    folder = Path(folder).expanduser()
    ratings_path = _require_file(folder, "ratings.dat", ML_1M)
    movies_path = _require_file(folder, "movies.dat", ML_1M)
    users_path = _require_file(folder, "users.dat", ML_1M)

    ratings_bad = BadRows(ratings_path, on_bad_rows)
    interactions = _read_ratings(ratings_path, _DAT_RATINGS_1M, chunk_rows, ratings_bad)
    items = _read_dat_movies(movies_path, BadRows(movies_path, on_bad_rows))
    users = _read_ml1m_users(users_path, BadRows(users_path, on_bad_rows))
    interactions = _drop_unknown_ids(interactions, "item_id", items["item_id"], movies_path.name, ratings_bad, 1)
    interactions = _drop_unknown_ids(interactions, "user_id", users["user_id"], users_path.name, ratings_bad, 1)
    ratings_bad.finish(len(interactions) + ratings_bad.count, len(interactions))

    items["tags"] = pd.Series([()] * len(items), index=items.index, dtype=object)
    return _raw_data("ml-1m", interactions, items, users, [ratings_path, movies_path, users_path])


def load_ml10m(folder: Path, chunk_rows: int = DEFAULT_CHUNK_ROWS, on_bad_rows: str = "error") -> RawData:
    """Read MovieLens 10M from its folder (``ml-10M100K``): ratings.dat, movies.dat and tags.dat.

    Ratings run from 0.5 to 5 in half stars. Raises DataError, or skips bad
    rows, as load_ml1m does. Tags are handled as in load_csv_release.
    """
    check_on_bad_rows(on_bad_rows)
    folder = Path(folder).expanduser()
    ratings_path = _require_file(folder, "ratings.dat", ML_10M)
    movies_path = _require_file(folder, "movies.dat", ML_10M)
    tags_path = _require_file(folder, "tags.dat", ML_10M)

    ratings_bad = BadRows(ratings_path, on_bad_rows)
    interactions = _read_ratings(ratings_path, _DAT_RATINGS_10M, chunk_rows, ratings_bad)
    items = _read_dat_movies(movies_path, BadRows(movies_path, on_bad_rows))
    interactions = _drop_unknown_ids(interactions, "item_id", items["item_id"], movies_path.name, ratings_bad, 1)
    ratings_bad.finish(len(interactions) + ratings_bad.count, len(interactions))

    tags_bad = BadRows(tags_path, on_bad_rows)
    tags = _read_tags(tags_path, _iter_dat_tags(tags_path, tags_bad), items["item_id"], tags_bad)
    items["tags"] = _tags_column(items, tags)
    return _raw_data("ml-10m", interactions, items, None, [ratings_path, movies_path, tags_path])


def load_csv_release(
    folder: Path, name: str, chunk_rows: int = DEFAULT_CHUNK_ROWS, on_bad_rows: str = "error"
) -> RawData:
    """Read a CSV release (ml-latest-small, ml-latest, ml-20m, ml-25m or ml-32m) from its folder.

    The folder must contain ratings.csv, movies.csv and tags.csv with the
    GroupLens headers. ``name`` becomes RawData.name. Tags are stripped of
    surrounding spaces. A tag row with an empty tag or a movie that movies.csv
    does not list is dropped, and the drop is logged. Raises DataError for a
    missing file, a wrong header, a malformed line (with its 1-based number),
    a duplicate movie id or a rating of an unlisted movie. With
    ``on_bad_rows="skip"`` a malformed line or a rating of an unlisted movie
    is dropped and counted instead (see graphrec.data.bad_rows).
    """
    check_on_bad_rows(on_bad_rows)
    folder = Path(folder).expanduser()
    spec = RELEASES.get(name)
    ratings_path = _require_file(folder, "ratings.csv", spec)
    movies_path = _require_file(folder, "movies.csv", spec)
    tags_path = _require_file(folder, "tags.csv", spec)

    ratings_bad = BadRows(ratings_path, on_bad_rows)
    interactions = _read_ratings(ratings_path, _CSV_RATINGS, chunk_rows, ratings_bad)
    items = _read_csv_movies(movies_path, BadRows(movies_path, on_bad_rows))
    interactions = _drop_unknown_ids(interactions, "item_id", items["item_id"], movies_path.name, ratings_bad, 2)
    ratings_bad.finish(len(interactions) + ratings_bad.count, len(interactions))

    tags_bad = BadRows(tags_path, on_bad_rows)
    tags = _read_tags(tags_path, _iter_csv_tags(tags_path, tags_bad), items["item_id"], tags_bad)
    items["tags"] = _tags_column(items, tags)
    return _raw_data(name, interactions, items, None, [ratings_path, movies_path, tags_path])


Loader = Callable[[Path, int, str], RawData]

RELEASES: dict[str, ArchiveSpec] = {
    spec.name: spec for spec in (ML_1M, ML_10M, ML_20M, ML_25M, ML_32M, ML_LATEST_SMALL, ML_LATEST)
}


def _loader_for(name: str) -> Loader:
    if name == "ml-1m":
        return load_ml1m
    if name == "ml-10m":
        return load_ml10m
    return lambda folder, chunk_rows, on_bad_rows: load_csv_release(folder, name, chunk_rows, on_bad_rows)


def load_release(
    name: str,
    data_root: Path,
    download: bool = True,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_bad_rows: str = "error",
) -> RawData:
    """Load the release ``name`` (a key of RELEASES) from ``data_root``, downloading it if needed.

    ``on_bad_rows`` is "error" or "skip", as graphrec.data.bad_rows describes.
    """
    if name not in RELEASES:
        raise DataError(f"unknown MovieLens release {name!r}. Known releases: {', '.join(sorted(RELEASES))}.")
    check_on_bad_rows(on_bad_rows)
    folder = ensure_release(RELEASES[name], Path(data_root), download)
    return _loader_for(name)(folder, chunk_rows, on_bad_rows)


def _require_file(folder: Path, filename: str, spec: ArchiveSpec | None) -> Path:
    """Return ``folder / filename``, or raise DataError saying where the file comes from."""
    path = folder / filename
    if path.is_file():
        return path
    if spec is None:
        raise DataError(f"file not found. The release folder {folder} must contain {filename}.", path=path)
    raise DataError(
        f"file not found. The {spec.name} folder must contain {filename}, so download {spec.url} "
        f"and extract it into {folder.parent}.",
        path=path,
    )


def _raw_data(
    name: str, interactions: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame | None, files: list[Path]
) -> RawData:
    genres = sorted({genre for item_genres in items["genres"] for genre in item_genres})
    user_count = len(users) if users is not None else interactions["user_id"].nunique()
    logger.info("read %s: %d ratings, %d movies, %d users", name, len(interactions), len(items), user_count)
    return RawData(name=name, interactions=interactions, items=items, users=users, genres=genres, source_files=files)


# --------------------------------------------------------------------------
# Ratings, read in blocks


def _read_ratings(path: Path, layout: _RatingsFormat, chunk_rows: int, bad: BadRows) -> pd.DataFrame:
    """Parse a ratings file into user_id, item_id, rating and timestamp, ``chunk_rows`` lines at a time.

    A first pass counts the lines so that the result is allocated once. The
    result does not depend on ``chunk_rows``. A line with a wrong field count,
    a value that is not a number, an id below 1, a negative timestamp or a
    rating outside the format's range goes to ``bad``, which raises DataError
    or skips the line. The caller calls ``bad.finish``.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")

    header_lines = 1 if layout.header is not None else 0
    total = _count_lines(path) - header_lines
    if total <= 0:
        raise DataError("the file has no ratings", path=path)

    # The final arrays are allocated once and filled block by block, so no
    # column is ever held twice.
    columns = {name: np.empty(total, dtype=_RATING_DTYPES[name]) for name in RATING_COLUMNS}
    lines_read = 0
    rows = 0
    with open(path, "rb") as file:
        if layout.header is not None:
            _check_header(file.readline(), layout.header, path)
        for lines in iter(lambda: list(itertools.islice(file, chunk_rows)), []):
            if lines_read + len(lines) > total:
                raise DataError("the file grew while it was read. Read it again once it is complete.", path=path)
            block = _parse_rating_block(b"".join(lines), len(lines), header_lines + lines_read + 1, layout, bad)
            for name in RATING_COLUMNS:
                columns[name][rows : rows + len(block)] = block[name].to_numpy()
            rows += len(block)
            lines_read += len(lines)

    if lines_read != total:
        raise DataError("the file shrank while it was read. Read it again once it is complete.", path=path)
    logger.info("read %s: %d rows", path, lines_read)
    if rows == 0:
        bad.finish(lines_read, 0)
    return pd.DataFrame({name: values[:rows] for name, values in columns.items()}, copy=False)


def _count_lines(path: Path) -> int:
    """Count the lines of a file, including a last line without a newline."""
    count = 0
    last = b"\n"
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _parse_rating_block(
    block: bytes, line_count: int, first_line: int, layout: _RatingsFormat, bad: BadRows
) -> pd.DataFrame:
    """Parse ``line_count`` lines that start at line ``first_line``, and return the good ones.

    pandas' C parser reads a well-formed block. A block it rejects, or with a
    value out of range, is parsed again line by line, which reports each bad
    line to ``bad``.
    """
    reject_utf16(block, bad.path, first_line)
    frame = _parse_block_with_pandas(block, line_count, layout)
    if frame is not None and _all_in_range(frame, layout):
        return frame
    return _parse_block_by_line(block, first_line, layout, bad)


def _parse_block_with_pandas(block: bytes, line_count: int, layout: _RatingsFormat) -> pd.DataFrame | None:
    """Parse a block with pandas, or return None at any sign of a malformed line.

    Each line has 3 separators, and a short line leaves a NaN that the dtype
    or range checks catch, so a line cannot lose or gain a field unnoticed.
    """
    data = block
    if layout.separator != b",":
        # pandas' C parser takes single-character separators only.
        if b"," in block:
            return None
        data = block.replace(layout.separator, b",")
    if block.count(layout.separator) != 3 * line_count:
        return None

    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=",",
            header=None,
            names=list(RATING_COLUMNS),
            dtype=_RATING_DTYPES,
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            index_col=False,
            engine="c",
        )
    except (ValueError, OverflowError, pd.errors.ParserError):
        return None
    return frame if len(frame) == line_count else None


def _all_in_range(frame: pd.DataFrame, layout: _RatingsFormat) -> bool:
    """Return whether every id is at least 1, every timestamp at least 0 and every rating in the format's range."""
    rating = frame["rating"].to_numpy()
    # The comparison is False for NaN, so a NaN rating is out of range.
    return bool(
        (frame["user_id"].to_numpy() >= 1).all()
        and (frame["item_id"].to_numpy() >= 1).all()
        and ((rating >= layout.min_rating) & (rating <= layout.max_rating)).all()
        and (frame["timestamp"].to_numpy() >= 0).all()
    )


def _parse_block_by_line(block: bytes, first_line: int, layout: _RatingsFormat, bad: BadRows) -> pd.DataFrame:
    """Parse a block one line at a time, reporting each bad line to ``bad``."""
    separator = layout.separator.decode("ascii")
    lines = block.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    values: dict[str, list] = {name: [] for name in RATING_COLUMNS}
    for offset, raw in enumerate(lines):
        text = raw.decode("latin-1")
        text = text[:-1] if text.endswith("\r") else text
        try:
            parsed = _parse_rating_line(text, separator, layout)
        except RowError as err:
            bad.report(first_line + offset, str(err))
            continue
        for name, value in zip(RATING_COLUMNS, parsed):
            values[name].append(value)
    return pd.DataFrame({name: np.array(values[name], dtype=_RATING_DTYPES[name]) for name in RATING_COLUMNS})


def _parse_rating_line(text: str, separator: str, layout: _RatingsFormat) -> tuple[int, int, float, int]:
    """Parse one ratings line into (user_id, item_id, rating, timestamp), or raise RowError."""
    if "\r" in text:
        raise RowError("carriage return (\\r) inside a line. Convert the file to LF or CRLF line endings.")
    if not text.strip():
        raise RowError(f"blank line, expected 4 fields separated by {separator!r}")
    fields = text.split(separator)
    if len(fields) != 4:
        raise RowError(f"expected 4 fields separated by {separator!r}, got {len(fields)}: {_shorten(text)}")

    expected_range = f"expected {layout.min_rating:g} to {layout.max_rating:g}"
    for column, value in zip(RATING_COLUMNS, fields):
        pattern = _DECIMAL if column == "rating" else _INTEGER
        if not pattern.fullmatch(value):
            if column == "rating" and _is_nan_or_infinity(value):
                raise RowError(f"invalid rating {float(value):g}, {expected_range}")
            kind = "a number" if column == "rating" else "an integer"
            raise RowError(f"invalid {column} {_shorten(value)}, expected {kind}")
        digits = value.strip(" +-").lstrip("0")
        if column != "rating" and (len(digits) > 19 or abs(int(value)) >= 2**63):
            raise RowError(f"{column} {value.strip()} does not fit in a 64-bit integer")

    user_id, item_id, timestamp = int(fields[0]), int(fields[1]), int(fields[3])
    rating = float(fields[2])
    if user_id < 1:
        raise RowError(f"invalid user_id {user_id}, expected an id of at least 1")
    if item_id < 1:
        raise RowError(f"invalid item_id {item_id}, expected an id of at least 1")
    if not layout.min_rating <= rating <= layout.max_rating:
        raise RowError(f"invalid rating {rating:g}, {expected_range}")
    if timestamp < 0:
        raise RowError(f"invalid timestamp {timestamp}, expected Unix seconds of at least 0")
    return user_id, item_id, rating, timestamp


def _is_nan_or_infinity(text: str) -> bool:
    """Return whether float() reads ``text`` as NaN or an infinity ("nan", "inf", "-Infinity")."""
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


def _check_header(raw: bytes, expected: list[str], path: Path) -> None:
    reject_utf16(raw, path)
    text = raw.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    if text.split(",") != expected:
        raise DataError(
            f"expected the header {','.join(expected)}, got {_shorten(text)}. "
            "Use the file as GroupLens ships it.",
            path=path,
            line=1,
        )


def _drop_unknown_ids(
    interactions: pd.DataFrame, column: str, known: pd.Series, table_file: str, bad: BadRows, first_line: int
) -> pd.DataFrame:
    """Report each rating whose ``column`` value is not in ``known`` to ``bad``, and return the other ratings.

    Row 0 of the ratings file is on line ``first_line``.
    """
    unknown = ~interactions[column].isin(known).to_numpy()
    if not unknown.any():
        return interactions
    rows = np.flatnonzero(unknown)
    # The lines are found before any is reported, because each report shifts the later rows.
    lines = bad.lines_of_kept_rows(rows, first_line)
    values = interactions[column].to_numpy()[rows]
    for line, value in zip(lines, values):
        bad.report(
            int(line), f"{column} {value} is not listed in {table_file}. Use the files of one release together."
        )
    return interactions[~unknown].reset_index(drop=True)


# --------------------------------------------------------------------------
# Movies, users and tags, read whole


def _read_text(path: Path, utf8_only: bool) -> str:
    """Decode a file as UTF-8, or as latin-1 (the encoding of ml-1m) when it is not valid UTF-8 and that is allowed."""
    data = path.read_bytes()
    reject_utf16(data, path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        if utf8_only:
            raise DataError(
                f"invalid UTF-8 byte 0x{data[err.start]:02x}. "
                "GroupLens CSV files are UTF-8, so use an unmodified copy.",
                path=path,
                line=data.count(b"\n", 0, err.start) + 1,
            ) from err
        return data.decode("latin-1")


def _dat_lines(path: Path, bad: BadRows) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line) for each line of a '::' file, reporting blank lines to ``bad``."""
    text = _read_text(path, utf8_only=False)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        raise DataError("the file is empty", path=path)
    for number, line in enumerate(lines, start=1):
        line = line[:-1] if line.endswith("\r") else line
        if not line.strip():
            bad.report(number, "blank line")
            continue
        yield number, line


def _csv_rows(path: Path, bad: BadRows) -> Iterator[tuple[int, list[str]]]:
    """Yield (1-based line number, fields) for each data row of a GroupLens CSV file, after checking its header.

    A row with a wrong field count or broken quoting goes to ``bad``. For a
    quoted field that spans lines, the number is the row's last line.
    """
    reader = csv.reader(io.StringIO(_read_text(path, utf8_only=True), newline=""))
    expected = _CSV_HEADERS[path.name]
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise DataError(f"malformed CSV header: {err}", path=path, line=reader.line_num) from err
    if header != expected:
        found = ",".join(header) if header is not None else "an empty file"
        raise DataError(f"expected the header {','.join(expected)}, got {_shorten(found)}", path=path, line=1)

    for number, fields in csv_rows(reader, bad):
        if not fields:
            bad.report(number, "blank line")
        elif len(fields) != len(expected):
            line = ",".join(fields)
            bad.report(number, f"expected {len(expected)} fields, got {len(fields)}: {_shorten(line)}")
        else:
            yield number, fields


def _read_dat_movies(path: Path, bad: BadRows) -> pd.DataFrame:
    """Parse movies.dat lines ``MovieID::Title::Genres``. A title may itself contain ':'."""
    rows = []
    for number, line in _dat_lines(path, bad):
        movie_id, separator, rest = line.partition("::")
        title, separator2, genres = rest.rpartition("::")
        try:
            if not separator or not separator2:
                raise RowError(f"expected 3 fields separated by '::' (MovieID::Title::Genres): {_shorten(line)}")
            rows.append((number, _parse_id(movie_id, "movie id"), title, genres))
        except RowError as err:
            bad.report(number, str(err))
    bad.finish(len(rows) + bad.count, len(rows))
    return _build_items(rows, path)


def _read_csv_movies(path: Path, bad: BadRows) -> pd.DataFrame:
    rows = []
    for number, (movie_id, title, genres) in _csv_rows(path, bad):
        try:
            rows.append((number, _parse_id(movie_id, "movieId"), title, genres))
        except RowError as err:
            bad.report(number, str(err))
    bad.finish(len(rows) + bad.count, len(rows))
    if not rows:
        raise DataError("the file has no movies", path=path)
    return _build_items(rows, path)


def _build_items(rows: list[tuple[int, int, str, str]], path: Path) -> pd.DataFrame:
    """Turn (line, id, title, genres) rows into item_id, title, year and genres, rejecting duplicate ids.

    A duplicate id raises DataError under both on_bad_rows policies.
    """
    first_line: dict[int, int] = {}
    for number, movie_id, _, _ in rows:
        if movie_id in first_line:
            raise DataError(
                f"duplicate movie id {movie_id}, first listed on line {first_line[movie_id]}", path=path, line=number
            )
        first_line[movie_id] = number

    logger.info("read %s: %d rows", path, len(rows))
    titles = [title for _, _, title, _ in rows]
    return pd.DataFrame(
        {
            "item_id": np.array([movie_id for _, movie_id, _, _ in rows], dtype=np.int64),
            "title": pd.Series(titles, dtype="str"),
            "year": pd.array([title_year(title) for title in titles], dtype="Int64"),
            "genres": pd.Series([split_genres(genres) for _, _, _, genres in rows], dtype=object),
        }
    )


def title_year(title: str) -> int | None:
    """Return the year of a title that ends in "(1995)", else None."""
    match = _TITLE_YEAR.search(title)
    return int(match.group(1)) if match else None


def split_genres(genres: str) -> tuple[str, ...]:
    """Split a '|'-separated genre field. "(no genres listed)" and an empty field give ()."""
    if genres in ("", NO_GENRES):
        return ()
    return tuple(genres.split("|"))


def _read_ml1m_users(path: Path, bad: BadRows) -> pd.DataFrame:
    """Parse users.dat lines ``UserID::Gender::Age::Occupation::Zip-code``.

    A bad line goes to ``bad``, and a duplicate user id raises DataError.
    """
    rows = []
    seen: dict[int, int] = {}
    for number, line in _dat_lines(path, bad):
        try:
            row = _parse_ml1m_user(line)
        except RowError as err:
            bad.report(number, str(err))
            continue
        user_id = row[0]
        if user_id in seen:
            raise DataError(
                f"duplicate user id {user_id}, first listed on line {seen[user_id]}", path=path, line=number
            )
        seen[user_id] = number
        rows.append(row)

    bad.finish(len(rows) + bad.count, len(rows))
    logger.info("read %s: %d rows", path, len(rows))
    frame = pd.DataFrame(rows, columns=["user_id", "gender", "age", "occupation", "zip_code"])
    return frame.astype({"user_id": "int64", "gender": "str", "age": "int64", "occupation": "str", "zip_code": "str"})


def _parse_ml1m_user(line: str) -> tuple[int, str, int, str, str]:
    """Parse one users.dat line into (user_id, gender, age, occupation name, zip_code), or raise RowError."""
    fields = line.split("::")
    if len(fields) != 5:
        raise RowError(f"expected 5 fields separated by '::', got {len(fields)}: {_shorten(line)}")
    user_text, gender, age_text, occupation_text, zip_code = fields
    user_id = _parse_id(user_text, "user id")
    if gender not in ("M", "F"):
        raise RowError(f"invalid gender {_shorten(gender)}, expected 'M' or 'F'")
    age = _parse_id(age_text, "age code", minimum=0)
    if age not in ML1M_AGE_CODES:
        raise RowError(f"invalid age code {age}, expected one of {ML1M_AGE_CODES}")
    occupation = _parse_id(occupation_text, "occupation code", minimum=0)
    if occupation >= len(ML1M_OCCUPATIONS):
        raise RowError(f"invalid occupation code {occupation}, expected 0 to {len(ML1M_OCCUPATIONS) - 1}")
    return user_id, gender, age, ML1M_OCCUPATIONS[occupation], zip_code


def _iter_dat_tags(path: Path, bad: BadRows) -> Iterator[tuple[int, int, str]]:
    """Yield (line, movie id, tag) from tags.dat lines ``UserID::MovieID::Tag::Timestamp``."""
    for number, line in _dat_lines(path, bad):
        fields = line.split("::", 2)
        tag, separator, timestamp = fields[-1].rpartition("::")
        try:
            if len(fields) != 3 or not separator:
                raise RowError(
                    f"expected 4 fields separated by '::' (UserID::MovieID::Tag::Timestamp): {_shorten(line)}"
                )
            _parse_id(fields[0], "user id")
            _parse_id(timestamp, "timestamp", minimum=0)
            movie_id = _parse_id(fields[1], "movie id")
        except RowError as err:
            bad.report(number, str(err))
            continue
        yield number, movie_id, tag


def _iter_csv_tags(path: Path, bad: BadRows) -> Iterator[tuple[int, int, str]]:
    for number, (user_id, movie_id, tag, timestamp) in _csv_rows(path, bad):
        try:
            _parse_id(user_id, "userId")
            _parse_id(timestamp, "timestamp", minimum=0)
            movie = _parse_id(movie_id, "movieId")
        except RowError as err:
            bad.report(number, str(err))
            continue
        yield number, movie, tag


def _read_tags(
    path: Path, rows: Iterator[tuple[int, int, str]], movie_ids: pd.Series, bad: BadRows
) -> dict[int, set[str]]:
    """Collect the distinct tags of each movie, dropping empty tags and tags of unlisted movies.

    ``bad`` contains the malformed rows that ``rows`` left out, and this function logs its summary.
    """
    known = set(movie_ids.tolist())
    tags: dict[int, set[str]] = {}
    total = empty = unknown = 0
    for _, movie_id, tag in rows:
        total += 1
        tag = tag.strip()
        if not tag:
            empty += 1
            continue
        if movie_id not in known:
            unknown += 1
            continue
        tags.setdefault(movie_id, set()).add(tag)

    bad.finish(total + bad.count, total)
    logger.info("read %s: %d rows", path, total)
    logger.info(
        "dropped %d of %d rows of %s: %d with an empty tag, %d of movies not in the movies file",
        empty + unknown,
        total,
        path,
        empty,
        unknown,
    )
    return tags


def _tags_column(items: pd.DataFrame, tags: dict[int, set[str]]) -> pd.Series:
    values = [tuple(sorted(tags.get(movie_id, ()))) for movie_id in items["item_id"].tolist()]
    return pd.Series(values, index=items.index, dtype=object)


def _parse_id(text: str, column: str, minimum: int = 1) -> int:
    """Parse a decimal integer of at least ``minimum``, or raise RowError."""
    if not _INTEGER.fullmatch(text):
        raise RowError(f"invalid {column} {_shorten(text)}, expected an integer")
    # int() rejects strings of more than 4300 digits, and 20 digits already exceed int64.
    value = int(text) if len(text.strip(" +-").lstrip("0")) <= 20 else 2**63
    if not minimum <= value < 2**63:
        raise RowError(f"invalid {column} {value}, expected an integer from {minimum} to 2**63 - 1")
    return value


def _shorten(value: str) -> str:
    """Return the repr of ``value`` cut to 40 characters, for error messages."""
    if len(value) > 40:
        return repr(value[:40]) + "..."
    return repr(value)
