"""The ``on_bad_rows`` policy of the loaders: raise at a bad row, or skip it and count it.

Every loader takes ``on_bad_rows``:

- ``"error"`` (the default) raises DataError at the first bad row found. The
  message starts with ``<file>:<line>: `` and quotes the offending value.
- ``"skip"`` drops every bad row. After reading a file the loader logs one
  WARNING with the number of rows it skipped and the first few of them, each
  with its line and the reason.

Only row-level problems can be skipped:

- a malformed row: a wrong field count, a blank line or broken CSV quoting
- a value that is not a number, or is NaN or infinite
- a value outside its allowed range, such as a rating outside the dataset's
  scale, an id below 1 or a negative timestamp
- an empty id or an empty scenario value (the Douban domain, the scenario
  column of a generic table)
- a rating of a user or item that the dataset's user or item table does not
  list

In the MovieLens loaders a row skipped in the user or item table takes its id
with it, so the ratings of that id are then skipped as ratings of an unknown
user or item. The atomic loader instead gives such an item a row without
title, year or genres, as it does for any item missing from its .item file.

File-level problems raise under both policies:

- a missing or unreadable file, or a damaged archive
- a wrong header line
- a file that is not in its expected encoding: UTF-16 or UTF-32 text, a NUL
  byte, or invalid UTF-8 in a format that must be UTF-8
- a duplicate id in a user or item table, and (for Douban) a user or item
  whose per-entity columns differ between rows
- a file in which no row is left once the bad rows are skipped

The skip counts are only logged. RawData does not carry them.
"""

from __future__ import annotations

import csv

import codecs
import logging
from pathlib import Path

import numpy as np

from graphrec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

ON_BAD_ROWS_CHOICES = ("error", "skip")
# Skipped rows that the summary line quotes, with their line and reason.
LOGGED_EXAMPLES = 3

_UTF16_AND_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class RowError(Exception):
    """A problem confined to one row, raised by a row parser.

    The loader catches it and passes its message and the row's line to
    BadRows.report, which raises DataError or skips the row. It never leaves
    a loader.
    """


def check_on_bad_rows(value: object) -> str:
    """Return ``value`` if it is a valid on_bad_rows policy, else raise ConfigError listing the choices."""
    if not isinstance(value, str) or value not in ON_BAD_ROWS_CHOICES:
        raise ConfigError(
            f"invalid on_bad_rows {value!r}. Use 'error' to raise at the first bad row, "
            "or 'skip' to drop bad rows and log how many were dropped."
        )
    return value


class BadRows:
    """The bad rows of one file, handled by one on_bad_rows policy.

    Under ``"error"`` report raises at once. Under ``"skip"`` it stores the
    first reason given for each line, so a row with two bad fields counts once.
    Rows are numbered by their 1-based line, or with ``unit="row"`` (for
    Parquet, which has no lines) by their 0-based row.
    """

    def __init__(self, path: Path, on_bad_rows: str, unit: str = "line"):
        if unit not in ("line", "row"):
            raise ValueError(f"unit must be 'line' or 'row', got {unit!r}")
        self.path = Path(path)
        self.skip = check_on_bad_rows(on_bad_rows) == "skip"
        self.unit = unit
        self._reasons: dict[int, str] = {}

    def report(self, number: int, message: str) -> None:
        """Raise DataError for the bad row at line (or row) ``number``, or record the row as skipped."""
        if not self.skip:
            if self.unit == "line":
                raise DataError(message, path=self.path, line=int(number))
            raise DataError(f"row {number}: {message}", path=self.path)
        self._reasons.setdefault(int(number), message)

    @property
    def count(self) -> int:
        """Number of distinct rows skipped so far."""
        return len(self._reasons)

    def skipped_lines(self) -> np.ndarray:
        """Return the line (or row) numbers of the skipped rows, sorted, as int64."""
        return np.array(sorted(self._reasons), dtype=np.int64)

    def kept(self, numbers: np.ndarray) -> np.ndarray:
        """Return a boolean mask that is False where ``numbers`` contains the line (or row) of a skipped row."""
        return ~np.isin(np.asarray(numbers, dtype=np.int64), self.skipped_lines())

    def lines_of_kept_rows(self, rows: np.ndarray, first_line: int) -> np.ndarray:
        """Return the line of each kept row, for a file of one row per line that starts at ``first_line``.

        ``rows`` are 0-based positions among the kept rows. Skipped lines hold
        no kept row, so each one pushes the later rows one line down. This
        avoids storing a line number for every row of a large file.
        """
        rows = np.asarray(rows, dtype=np.int64)
        skipped = self.skipped_lines()
        skipped = skipped[skipped >= first_line]
        lines = rows + first_line
        # The line of kept row r is the smallest L with L = first_line + r + (skipped lines <= L).
        # Iterating from below reaches that fixed point, and it is never a skipped line.
        while True:
            shifted = rows + first_line + np.searchsorted(skipped, lines, side="right")
            if np.array_equal(shifted, lines):
                return lines
            lines = shifted

    def finish(self, rows_read: int, rows_kept: int) -> None:
        """Log the skipped rows of the file in one WARNING, and raise DataError when no row is left.

        Does nothing when no row was skipped.
        """
        if not self._reasons:
            return
        examples = "; ".join(
            f"{self.unit} {number} ({self._reasons[number]})" for number in sorted(self._reasons)[:LOGGED_EXAMPLES]
        )
        if rows_kept == 0:
            raise DataError(
                f"every data row is bad ({rows_read} in all), so nothing is left to load. Examples: {examples}",
                path=self.path,
            )
        logger.warning(
            "skipped %d of %d rows in %s because they are bad (on_bad_rows: skip). Examples: %s",
            self.count,
            rows_read,
            self.path,
            examples,
        )


def reject_utf16(data: bytes, path: Path, first_line: int = 1) -> None:
    """Raise DataError when ``data`` starts with a UTF-16 or UTF-32 byte order mark or contains a NUL byte.

    Both mean that the file is not 8-bit text. ``data`` starts at line
    ``first_line`` of the file.
    """
    for bom in _UTF16_AND_UTF32_BOMS:
        if first_line == 1 and data.startswith(bom):
            raise DataError(
                f"the file starts with the byte order mark {bom.hex(' ')} of UTF-16 or UTF-32. Save it as UTF-8 text.",
                path=path,
                line=1,
            )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError(
            "NUL byte (0x00), so the file is binary, UTF-16 or UTF-32. Save it as UTF-8 text.",
            path=path,
            line=first_line + data.count(b"\n", 0, nul),
        )


def decode_utf8(data: bytes, path: Path) -> str:
    """Decode ``data`` as UTF-8 (a leading byte order mark is dropped), or raise DataError naming the line and byte.

    UTF-16 and UTF-32 text is rejected first, as in reject_utf16.
    """
    reject_utf16(data, path)
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = start + err.start
        raise DataError(
            f"invalid UTF-8 byte 0x{data[offset]:02x} at byte offset {offset}. Save the file as UTF-8 text.",
            path=path,
            line=data.count(b"\n", 0, offset) + 1,
        ) from err


def shorten(value: str, limit: int = 60) -> str:
    """Return the repr of ``value`` cut to ``limit`` characters, for error messages."""
    if len(value) > limit:
        return repr(value[:limit]) + "..."
    return repr(value)


def csv_rows(reader, bad: "BadRows"):
    """Yield ``(line, fields)`` from a ``csv.reader``, reporting rows the reader cannot parse to ``bad``.

    The reader starts afresh at the next line after a parse error, so the
    rows after a malformed one are still read.
    """
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            bad.report(reader.line_num, f"malformed CSV: {err}")
            continue
        yield reader.line_num, fields
