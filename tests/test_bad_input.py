"""Bad input for every loader, under on_bad_rows="error" and "skip".

Each test writes a tiny dataset into tmp_path with one bad line at a known
line number. Under "error" the DataError must start with ``<file>:<line>: ``
and quote the offending value. Under "skip" the bad row must be missing from
the result and one WARNING must give the file, the count and the line.
File-level problems (encoding, duplicate ids) must raise under both policies.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pytest

from graphrec.data.atomic import load_atomic
from graphrec.data.douban import DOUBAN_COLUMNS, DOUBAN_FILE, DOUBAN_FOLDER, load_douban_sample
from graphrec.data.generic import load_table
from graphrec.data.movielens import load_ml100k
from graphrec.data.movielens_releases import load_csv_release, load_ml1m
from graphrec.data.registry import load_dataset
from graphrec.data.scenarios import assign_scenarios
from graphrec.errors import ConfigError, DataError
from helpers import tiny_raw


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def with_line(lines: list[str], line: int, text: str) -> list[str]:
    """Return ``lines`` with ``text`` inserted so that it becomes 1-based line ``line``."""
    return lines[: line - 1] + [text] + lines[line - 1 :]


def assert_error_at(err: DataError, path: Path, line: int, value: str) -> None:
    message = str(err)
    assert err.path == path, message
    assert err.line == line, message
    assert message.startswith(f"{path}:{line}: "), message
    assert value in message, message


def skip_warnings(caplog: pytest.LogCaptureFixture, path: Path) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and f" in {path} " in record.getMessage()
    ]


def assert_skip_logged(caplog: pytest.LogCaptureFixture, path: Path, skipped: int, read: int, line: int) -> None:
    warnings = skip_warnings(caplog, path)
    assert len(warnings) == 1, warnings
    assert f"skipped {skipped} of {read} rows in {path} because they are bad" in warnings[0]
    assert f"line {line} (" in warnings[0]


# --------------------------------------------------------------------------
# ml-100k: u.data, u.item and u.user


def genre_flags(*genres: int) -> str:
    return "|".join("1" if index in genres else "0" for index in range(19))


ML100K_RATINGS = ["1\t10\t5\t881250949", "1\t20\t3\t881250950", "2\t10\t4\t891717742", "3\t30\t1\t878887116"]
ML100K_ITEMS = [
    f"10|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/a|{genre_flags(3, 4, 5)}",
    f"20|Heat (1995)|01-Jan-1995||http://us.imdb.com/M/b|{genre_flags(1, 6, 16)}",
    f"30|Babe (1995)|01-Jan-1995||http://us.imdb.com/M/c|{genre_flags(4, 5, 8)}",
]
ML100K_USERS = ["1|24|M|technician|85711", "2|53|F|other|94043", "3|23|M|writer|32067"]


def write_ml100k(folder: Path, ratings=ML100K_RATINGS, items=ML100K_ITEMS, users=ML100K_USERS) -> Path:
    write_lines(folder / "u.data", ratings, "latin-1")
    write_lines(folder / "u.item", items, "latin-1")
    write_lines(folder / "u.user", users, "latin-1")
    return folder


# (line 3 of u.data, text the message must quote)
ML100K_BAD_RATINGS = [
    pytest.param("1\t20\t3", "'1\\t20\\t3'", id="malformed"),
    pytest.param("1\t20\tthree\t881250950", "'three'", id="not-a-number"),
    pytest.param("1\t20\tnan\t881250950", "'nan'", id="nan"),
    pytest.param("1\t20\tinf\t881250950", "'inf'", id="inf"),
    pytest.param("1\t20\t6\t881250950", "rating 6 is outside 1..5", id="outside-scale"),
    pytest.param("1\t99\t3\t881250950", "item_id 99 is not listed", id="unknown-item"),
]


@pytest.mark.parametrize("bad_line, value", ML100K_BAD_RATINGS)
def test_ml100k_bad_rating_error(tmp_path: Path, bad_line: str, value: str):
    folder = write_ml100k(tmp_path / "ml-100k", ratings=with_line(ML100K_RATINGS, 3, bad_line))

    with pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert_error_at(caught.value, folder / "u.data", 3, value)


@pytest.mark.parametrize("bad_line, value", ML100K_BAD_RATINGS)
def test_ml100k_bad_rating_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture, bad_line: str, value: str):
    folder = write_ml100k(tmp_path / "ml-100k", ratings=with_line(ML100K_RATINGS, 3, bad_line))

    with caplog.at_level(logging.WARNING):
        raw = load_ml100k(folder, on_bad_rows="skip")

    assert raw.interactions["user_id"].tolist() == [1, 1, 2, 3]
    assert raw.interactions["rating"].tolist() == [5.0, 3.0, 4.0, 1.0]
    assert_skip_logged(caplog, folder / "u.data", 1, 5, 3)
    assert value in skip_warnings(caplog, folder / "u.data")[0]


def test_ml100k_bad_user_row_drops_its_ratings(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    users = ML100K_USERS[:2] + ["3|twenty|M|writer|32067"]
    folder = write_ml100k(tmp_path / "ml-100k", users=users)

    with caplog.at_level(logging.WARNING):
        raw = load_ml100k(folder, on_bad_rows="skip")

    assert raw.users["user_id"].tolist() == [1, 2]
    assert 3 not in raw.interactions["user_id"].tolist()
    assert_skip_logged(caplog, folder / "u.user", 1, 3, 3)
    assert_skip_logged(caplog, folder / "u.data", 1, 4, 4)


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_ml100k_duplicate_item_id(tmp_path: Path, on_bad_rows: str):
    items = ML100K_ITEMS + [f"20|Heat again (1995)|01-Jan-1995|||{genre_flags(1)}"]
    folder = write_ml100k(tmp_path / "ml-100k", items=items)

    with pytest.raises(DataError) as caught:
        load_ml100k(folder, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, folder / "u.item", 4, "duplicate item_id 20, first listed on line 2")


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_ml100k_utf16_ratings(tmp_path: Path, on_bad_rows: str):
    folder = write_ml100k(tmp_path / "ml-100k")
    write_lines(folder / "u.data", ML100K_RATINGS, "utf-16-le")

    with pytest.raises(DataError) as caught:
        load_ml100k(folder, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, folder / "u.data", 1, "NUL byte")


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_ml100k_invalid_utf8_after_bom(tmp_path: Path, on_bad_rows: str):
    folder = write_ml100k(tmp_path / "ml-100k")
    items = ML100K_ITEMS[:1] + [ML100K_ITEMS[1].replace("Heat", "Misérables")] + ML100K_ITEMS[2:]
    (folder / "u.item").write_bytes(b"\xef\xbb\xbf" + ("\n".join(items) + "\n").encode("latin-1"))

    with pytest.raises(DataError) as caught:
        load_ml100k(folder, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, folder / "u.item", 2, "invalid UTF-8 byte 0xe9")


# --------------------------------------------------------------------------
# ml-1m: ratings.dat, movies.dat and users.dat, '::'-separated

ML1M_RATINGS = ["1::10::5::978300760", "1::20::3::978302109", "2::10::4::978301968", "3::30::1::978300275"]
ML1M_MOVIES = [
    "10::Toy Story (1995)::Animation|Children's|Comedy",
    "20::Heat (1995)::Action|Crime|Thriller",
    "30::Babe (1995)::Children's|Comedy|Drama",
]
ML1M_USERS = ["1::F::1::10::48067", "2::M::56::16::70072", "3::M::25::15::55117"]


def write_ml1m(folder: Path, ratings=ML1M_RATINGS, movies=ML1M_MOVIES, users=ML1M_USERS) -> Path:
    write_lines(folder / "ratings.dat", ratings, "latin-1")
    write_lines(folder / "movies.dat", movies, "latin-1")
    write_lines(folder / "users.dat", users, "latin-1")
    return folder


ML1M_BAD_RATINGS = [
    pytest.param("1::20::3", "'1::20::3'", id="malformed"),
    pytest.param("1::20::three::978302109", "'three'", id="not-a-number"),
    pytest.param("1::20::nan::978302109", "rating nan", id="nan"),
    pytest.param("1::20::inf::978302109", "rating inf", id="inf"),
    pytest.param("1::20::0.5::978302109", "rating 0.5, expected 1 to 5", id="outside-scale"),
    pytest.param("1::99::3::978302109", "item_id 99 is not listed", id="unknown-item"),
]


@pytest.mark.parametrize("chunk_rows", [2, 1000])
@pytest.mark.parametrize("bad_line, value", ML1M_BAD_RATINGS)
def test_ml1m_bad_rating_error(tmp_path: Path, bad_line: str, value: str, chunk_rows: int):
    folder = write_ml1m(tmp_path / "ml-1m", ratings=with_line(ML1M_RATINGS, 3, bad_line))

    with pytest.raises(DataError) as caught:
        load_ml1m(folder, chunk_rows=chunk_rows)

    assert_error_at(caught.value, folder / "ratings.dat", 3, value)


@pytest.mark.parametrize("chunk_rows", [2, 1000])
@pytest.mark.parametrize("bad_line, value", ML1M_BAD_RATINGS)
def test_ml1m_bad_rating_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bad_line: str, value: str, chunk_rows: int
):
    folder = write_ml1m(tmp_path / "ml-1m", ratings=with_line(ML1M_RATINGS, 3, bad_line))

    with caplog.at_level(logging.WARNING):
        raw = load_ml1m(folder, chunk_rows=chunk_rows, on_bad_rows="skip")

    assert raw.interactions["item_id"].tolist() == [10, 20, 10, 30]
    assert raw.interactions["rating"].tolist() == [5.0, 3.0, 4.0, 1.0]
    assert_skip_logged(caplog, folder / "ratings.dat", 1, 5, 3)
    assert value in skip_warnings(caplog, folder / "ratings.dat")[0]


def test_ml1m_skipped_lines_shift_later_line_numbers(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    # Line 2 is malformed and line 5 rates an unlisted movie. The unknown-id check runs after
    # line 2 is gone, so it must still name line 5, also across blocks of two lines.
    ratings = with_line(with_line(ML1M_RATINGS, 2, "not a rating"), 5, "2::99::4::978301968")
    folder = write_ml1m(tmp_path / "ml-1m", ratings=ratings)

    with caplog.at_level(logging.WARNING):
        raw = load_ml1m(folder, chunk_rows=2, on_bad_rows="skip")

    assert len(raw.interactions) == 4
    warning = skip_warnings(caplog, folder / "ratings.dat")[0]
    assert "skipped 2 of 6 rows" in warning
    assert "line 2 (expected 4 fields separated by '::', got 1: 'not a rating')" in warning
    assert "line 5 (item_id 99 is not listed in movies.dat." in warning


def test_ml1m_bad_user_row_drops_its_ratings(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    users = ML1M_USERS[:2] + ["3::X::25::15::55117"]
    folder = write_ml1m(tmp_path / "ml-1m", users=users)

    with pytest.raises(DataError) as caught:
        load_ml1m(folder)
    assert_error_at(caught.value, folder / "users.dat", 3, "invalid gender 'X'")

    with caplog.at_level(logging.WARNING):
        raw = load_ml1m(folder, on_bad_rows="skip")
    assert raw.users["user_id"].tolist() == [1, 2]
    assert raw.interactions["user_id"].tolist() == [1, 1, 2]
    assert_skip_logged(caplog, folder / "users.dat", 1, 3, 3)
    assert_skip_logged(caplog, folder / "ratings.dat", 1, 4, 4)


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_ml1m_duplicate_ids(tmp_path: Path, on_bad_rows: str):
    movies = ML1M_MOVIES + ["20::Heat again (1995)::Action"]
    folder = write_ml1m(tmp_path / "movies" / "ml-1m", movies=movies)
    with pytest.raises(DataError) as caught:
        load_ml1m(folder, on_bad_rows=on_bad_rows)
    assert_error_at(caught.value, folder / "movies.dat", 4, "duplicate movie id 20, first listed on line 2")

    users = ML1M_USERS + ["2::F::18::3::10001"]
    folder = write_ml1m(tmp_path / "users" / "ml-1m", users=users)
    with pytest.raises(DataError) as caught:
        load_ml1m(folder, on_bad_rows=on_bad_rows)
    assert_error_at(caught.value, folder / "users.dat", 4, "duplicate user id 2, first listed on line 2")


@pytest.mark.parametrize("filename", ["ratings.dat", "movies.dat"])
@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_ml1m_utf16_file(tmp_path: Path, filename: str, on_bad_rows: str):
    folder = write_ml1m(tmp_path / "ml-1m")
    lines = {"ratings.dat": ML1M_RATINGS, "movies.dat": ML1M_MOVIES}[filename]
    write_lines(folder / filename, lines, "utf-16")

    with pytest.raises(DataError) as caught:
        load_ml1m(folder, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, folder / filename, 1, "byte order mark ff fe")


# --------------------------------------------------------------------------
# CSV releases (ml-latest-small layout): ratings.csv, movies.csv and tags.csv

CSV_RATINGS = [
    "userId,movieId,rating,timestamp",
    "1,10,4.0,964982703",
    "1,20,4.5,964981247",
    "2,10,2.5,964982224",
    "3,30,5.0,964983815",
]
CSV_MOVIES = [
    "movieId,title,genres",
    "10,Toy Story (1995),Adventure|Animation",
    '20,"American President, The (1995)",Comedy|Drama|Romance',
    "30,Heat (1995),Action|Crime|Thriller",
]
CSV_TAGS = ["userId,movieId,tag,timestamp", "2,10,funny,1445714994", "2,20,politics,1445714996"]


def write_csv_release(folder: Path, ratings=CSV_RATINGS, movies=CSV_MOVIES, tags=CSV_TAGS) -> Path:
    write_lines(folder / "ratings.csv", ratings)
    write_lines(folder / "movies.csv", movies)
    write_lines(folder / "tags.csv", tags)
    return folder


# (line 4 of ratings.csv, text the message must quote)
CSV_BAD_RATINGS = [
    pytest.param("1,20,4.5", "'1,20,4.5'", id="malformed"),
    pytest.param("1,20,four,964981247", "'four'", id="not-a-number"),
    pytest.param("1,20,nan,964981247", "rating nan", id="nan"),
    pytest.param("1,20,-inf,964981247", "rating -inf", id="inf"),
    pytest.param("1,20,5.5,964981247", "rating 5.5, expected 0.5 to 5", id="outside-scale"),
    pytest.param("1,99,4.5,964981247", "item_id 99 is not listed", id="unknown-item"),
]


@pytest.mark.parametrize("bad_line, value", CSV_BAD_RATINGS)
def test_csv_release_bad_rating_error(tmp_path: Path, bad_line: str, value: str):
    folder = write_csv_release(tmp_path / "ml-latest-small", ratings=with_line(CSV_RATINGS, 4, bad_line))

    with pytest.raises(DataError) as caught:
        load_csv_release(folder, "ml-latest-small")

    assert_error_at(caught.value, folder / "ratings.csv", 4, value)


@pytest.mark.parametrize("bad_line, value", CSV_BAD_RATINGS)
def test_csv_release_bad_rating_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bad_line: str, value: str
):
    folder = write_csv_release(tmp_path / "ml-latest-small", ratings=with_line(CSV_RATINGS, 4, bad_line))

    with caplog.at_level(logging.WARNING):
        raw = load_dataset("ml-latest-small", tmp_path, download=False, on_bad_rows="skip")

    assert raw.interactions["rating"].tolist() == [4.0, 4.5, 2.5, 5.0]
    assert_skip_logged(caplog, folder / "ratings.csv", 1, 5, 4)
    assert value in skip_warnings(caplog, folder / "ratings.csv")[0]


def test_csv_release_bad_movie_row_drops_its_ratings(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    movies = CSV_MOVIES[:3] + ["thirty,Heat (1995),Action"]
    folder = write_csv_release(tmp_path / "ml-latest-small", movies=movies)

    with pytest.raises(DataError) as caught:
        load_csv_release(folder, "ml-latest-small")
    assert_error_at(caught.value, folder / "movies.csv", 4, "invalid movieId 'thirty'")

    with caplog.at_level(logging.WARNING):
        raw = load_csv_release(folder, "ml-latest-small", on_bad_rows="skip")
    assert raw.items["item_id"].tolist() == [10, 20]
    assert raw.interactions["item_id"].tolist() == [10, 20, 10]
    assert_skip_logged(caplog, folder / "movies.csv", 1, 3, 4)
    assert_skip_logged(caplog, folder / "ratings.csv", 1, 4, 5)


def test_csv_release_oversized_field_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    # Python's csv module rejects a field over 131072 characters. The rows after it must still be read.
    tags = CSV_TAGS[:2] + ["2,20," + "x" * 200_000 + ",1445714995"] + CSV_TAGS[2:]
    folder = write_csv_release(tmp_path / "ml-latest-small", tags=tags)

    with pytest.raises(DataError) as caught:
        load_csv_release(folder, "ml-latest-small")
    assert_error_at(caught.value, folder / "tags.csv", 3, "field larger than field limit")

    with caplog.at_level(logging.WARNING):
        raw = load_csv_release(folder, "ml-latest-small", on_bad_rows="skip")
    assert raw.items["tags"].tolist() == [("funny",), ("politics",), ()]
    assert_skip_logged(caplog, folder / "tags.csv", 1, 3, 3)


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_csv_release_duplicate_movie_id(tmp_path: Path, on_bad_rows: str):
    folder = write_csv_release(tmp_path / "ml-latest-small", movies=CSV_MOVIES + ["20,Copy (1995),Drama"])

    with pytest.raises(DataError) as caught:
        load_csv_release(folder, "ml-latest-small", on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, folder / "movies.csv", 5, "duplicate movie id 20, first listed on line 3")


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_csv_release_latin1_movies(tmp_path: Path, on_bad_rows: str):
    folder = write_csv_release(tmp_path / "ml-latest-small")
    movies = CSV_MOVIES[:2] + ['20,"Misérables, Les (1995)",Drama'] + CSV_MOVIES[3:]
    write_lines(folder / "movies.csv", movies, "latin-1")

    with pytest.raises(DataError) as caught:
        load_csv_release(folder, "ml-latest-small", on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, folder / "movies.csv", 3, "invalid UTF-8 byte 0xe9")


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_csv_release_utf16_ratings(tmp_path: Path, on_bad_rows: str):
    folder = write_csv_release(tmp_path / "ml-latest-small")
    write_lines(folder / "ratings.csv", CSV_RATINGS, "utf-16")

    with pytest.raises(DataError) as caught:
        load_csv_release(folder, "ml-latest-small", on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, folder / "ratings.csv", 1, "byte order mark ff fe")


# --------------------------------------------------------------------------
# RecBole atomic files: toy.inter and toy.item

ATOMIC_INTER = [
    "user_id:token\titem_id:token\trating:float\ttimestamp:float",
    "u1\ti1\t5\t100",
    "u1\ti2\t3\t200",
    "u2\ti1\t4\t300",
    "u3\ti3\t1\t400",
]
ATOMIC_ITEM = [
    "item_id:token\tmovie_title:token\trelease_year:token",
    "i1\tToy Story\t1995",
    "i2\tHeat\t1995",
    "i3\tBabe\t1995",
]


def write_atomic(folder: Path, inter=ATOMIC_INTER, item=ATOMIC_ITEM) -> Path:
    write_lines(folder / "toy.inter", inter)
    write_lines(folder / "toy.item", item)
    return folder


# (line 3 of toy.inter, text the message must quote). RecBole declares no
# rating scale, so there is no out-of-scale case.
ATOMIC_BAD_INTERACTIONS = [
    pytest.param("u1\ti2\t3", "'u1\\ti2\\t3'", id="malformed"),
    pytest.param("u1\ti2\tthree\t200", "'three'", id="not-a-number"),
    pytest.param("u1\ti2\tnan\t200", "'nan'", id="nan"),
    pytest.param("u1\ti2\tinf\t200", "'inf'", id="inf"),
    pytest.param("u1\ti2\t3\t1e30", "'1e30' does not fit", id="timestamp-too-large"),
    pytest.param(" \ti2\t3\t200", "empty user_id ' '", id="empty-id"),
]


@pytest.mark.parametrize("bad_line, value", ATOMIC_BAD_INTERACTIONS)
def test_atomic_bad_interaction_error(tmp_path: Path, bad_line: str, value: str):
    folder = write_atomic(tmp_path / "toy", inter=with_line(ATOMIC_INTER, 3, bad_line))

    with pytest.raises(DataError) as caught:
        load_atomic(folder)

    assert_error_at(caught.value, folder / "toy.inter", 3, value)


@pytest.mark.parametrize("bad_line, value", ATOMIC_BAD_INTERACTIONS)
def test_atomic_bad_interaction_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture, bad_line: str, value: str):
    folder = write_atomic(tmp_path / "toy", inter=with_line(ATOMIC_INTER, 3, bad_line))

    with caplog.at_level(logging.WARNING):
        raw = load_atomic(folder, on_bad_rows="skip")

    assert raw.interactions["user_id"].tolist() == ["u1", "u1", "u2", "u3"]
    assert raw.interactions["timestamp"].tolist() == [100, 200, 300, 400]
    assert_skip_logged(caplog, folder / "toy.inter", 1, 5, 3)
    assert value in skip_warnings(caplog, folder / "toy.inter")[0]


def test_atomic_bad_item_row_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    item = ATOMIC_ITEM[:2] + ["i2\tHeat\tnineteen"] + ATOMIC_ITEM[3:]
    folder = write_atomic(tmp_path / "toy", item=item)

    with pytest.raises(DataError) as caught:
        load_atomic(folder)
    assert_error_at(caught.value, folder / "toy.item", 3, "'nineteen'")

    with caplog.at_level(logging.WARNING):
        raw = load_atomic(folder, on_bad_rows="skip")
    # As documented, an item that only the .inter file names gets a row without a title.
    assert raw.items["item_id"].tolist() == ["i1", "i3", "i2"]
    assert raw.items["title"].isna().tolist() == [False, False, True]
    assert_skip_logged(caplog, folder / "toy.item", 1, 3, 3)


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_atomic_duplicate_item_id(tmp_path: Path, on_bad_rows: str):
    folder = write_atomic(tmp_path / "toy", item=ATOMIC_ITEM + ["i2\tHeat again\t1996"])

    with pytest.raises(DataError) as caught:
        load_atomic(folder, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, folder / "toy.item", 5, "duplicate item_id 'i2', first listed on line 3")


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_atomic_invalid_utf8(tmp_path: Path, on_bad_rows: str):
    folder = write_atomic(tmp_path / "toy", inter=with_line(ATOMIC_INTER, 3, "u1\tcafé\t3\t200"))
    write_lines(folder / "toy.inter", with_line(ATOMIC_INTER, 3, "u1\tcafé\t3\t200"), "latin-1")

    with pytest.raises(DataError) as caught:
        load_atomic(folder, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, folder / "toy.inter", 3, "invalid UTF-8 byte 0xe9")


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_atomic_utf16(tmp_path: Path, on_bad_rows: str):
    folder = write_atomic(tmp_path / "toy")
    write_lines(folder / "toy.inter", ATOMIC_INTER, "utf-16")

    with pytest.raises(DataError) as caught:
        load_atomic(folder, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, folder / "toy.inter", 1, "byte order mark ff fe")


def test_atomic_every_row_bad(tmp_path: Path):
    folder = write_atomic(tmp_path / "toy", inter=[ATOMIC_INTER[0], "u1\ti1\tnan\t100"])

    with pytest.raises(DataError) as caught:
        load_atomic(folder, on_bad_rows="skip")

    message = str(caught.value)
    assert message.startswith(f"{folder / 'toy.inter'}: every data row is bad (1 in all)"), message
    assert "line 2 (invalid rating 'nan'" in message


# --------------------------------------------------------------------------
# Douban sample: one CSV whose domain column is the scenario

DOUBAN_HEADER = ",".join(DOUBAN_COLUMNS)
DOUBAN_ROWS = [
    "1691,34964,1,book,北京,2007-07-10,27",
    "1691,96073,0,movie,北京,2007-07-10,27",
    "2133,96073,1,movie,浙江杭州,2008-01-03,33",
    "2133,5000,1,music,浙江杭州,2008-01-03,33",
]


def write_douban(folder: Path, rows=DOUBAN_ROWS, encoding: str = "utf-8") -> Path:
    return write_lines(folder / DOUBAN_FILE, [DOUBAN_HEADER, *rows], encoding)


# (line 3 of douban_sample.csv, text the message must quote)
DOUBAN_BAD_ROWS = [
    pytest.param("1691,96073,0,movie", "'1691,96073,0,movie'", id="malformed"),
    pytest.param("abc,96073,0,movie,北京,2007-07-10,27", "'abc'", id="not-a-number"),
    pytest.param("1691,96073,nan,movie,北京,2007-07-10,27", "'nan'", id="nan"),
    pytest.param("1691,96073,inf,movie,北京,2007-07-10,27", "'inf'", id="inf"),
    pytest.param("1691,96073,4,movie,北京,2007-07-10,27", "invalid rating '4', expected 0 or 1", id="outside-scale"),
    pytest.param("1691,96073,0,,北京,2007-07-10,27", "empty domain ''", id="empty-scenario"),
]


@pytest.mark.parametrize("bad_line, value", DOUBAN_BAD_ROWS)
def test_douban_bad_row_error(tmp_path: Path, bad_line: str, value: str):
    path = write_douban(tmp_path / DOUBAN_FOLDER, rows=with_line(DOUBAN_ROWS, 2, bad_line))

    with pytest.raises(DataError) as caught:
        load_douban_sample(path.parent)

    assert_error_at(caught.value, path, 3, value)


@pytest.mark.parametrize("bad_line, value", DOUBAN_BAD_ROWS)
def test_douban_bad_row_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture, bad_line: str, value: str):
    path = write_douban(tmp_path / DOUBAN_FOLDER, rows=with_line(DOUBAN_ROWS, 2, bad_line))

    with caplog.at_level(logging.WARNING):
        raw = load_dataset("douban-sample", tmp_path, download=False, on_bad_rows="skip")

    assert raw.interactions["item_id"].tolist() == [34964, 96073, 96073, 5000]
    assert raw.interactions["domain"].tolist() == ["book", "movie", "movie", "music"]
    assert_skip_logged(caplog, path, 1, 5, 3)
    assert value in skip_warnings(caplog, path)[0]


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_douban_item_in_two_domains(tmp_path: Path, on_bad_rows: str):
    path = write_douban(tmp_path / DOUBAN_FOLDER, rows=DOUBAN_ROWS + ["2133,34964,1,movie,浙江杭州,2008-01-03,33"])

    with pytest.raises(DataError) as caught:
        load_douban_sample(path, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, path, 6, "item_id 34964 has domain ['movie'] here but ['book'] on line 2")


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_douban_not_utf8(tmp_path: Path, on_bad_rows: str):
    # GB18030 is a common encoding for Chinese text, and its bytes are not valid UTF-8.
    path = write_douban(tmp_path / DOUBAN_FOLDER, encoding="gb18030")

    with pytest.raises(DataError) as caught:
        load_douban_sample(path, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, path, 2, "invalid UTF-8 byte 0xb1")


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_douban_utf16(tmp_path: Path, on_bad_rows: str):
    path = write_douban(tmp_path / DOUBAN_FOLDER, encoding="utf-16")

    with pytest.raises(DataError) as caught:
        load_douban_sample(path, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, path, 1, "byte order mark ff fe")


# --------------------------------------------------------------------------
# Generic CSV tables

GENERIC_MAPPING = {"uid": "user", "iid": "item", "score": "rating", "ts": "timestamp", "channel": "scenario"}
GENERIC_LINES = [
    "uid,iid,score,ts,channel",
    "u1,i1,4.5,1600000000,home",
    "u1,i2,3,1600000100,search",
    "u2,i1,1,1600000200,home",
    "u3,i3,2,1600000300,search",
]

# (line 3 of clicks.csv, text the message must quote). A generic table
# declares no rating scale, so there is no out-of-scale case.
GENERIC_BAD_ROWS = [
    pytest.param("u1,i2,3,1600000100,search,extra", "'u1,i2,3,1600000100,search,extra'", id="too-many-fields"),
    pytest.param("u1,i2,3", "'u1,i2,3'", id="too-few-fields"),
    pytest.param("u1,i2,three,1600000100,search", "'three'", id="not-a-number"),
    pytest.param("u1,i2,nan,1600000100,search", "'nan'", id="nan"),
    pytest.param("u1,i2,inf,1600000100,search", "'inf'", id="inf"),
    pytest.param("u1,i2,3,1600000100.5,search", "'1600000100.5'", id="fractional-timestamp"),
    pytest.param("u1,i2,3,1600000100,", "empty channel ''", id="empty-scenario"),
]


@pytest.mark.parametrize("bad_line, value", GENERIC_BAD_ROWS)
def test_generic_bad_row_error(tmp_path: Path, bad_line: str, value: str):
    path = write_lines(tmp_path / "clicks.csv", with_line(GENERIC_LINES, 3, bad_line))

    with pytest.raises(DataError) as caught:
        load_table(path, GENERIC_MAPPING)

    assert_error_at(caught.value, path, 3, value)


@pytest.mark.parametrize("bad_line, value", GENERIC_BAD_ROWS)
def test_generic_bad_row_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture, bad_line: str, value: str):
    path = write_lines(tmp_path / "clicks.csv", with_line(GENERIC_LINES, 3, bad_line))

    with caplog.at_level(logging.WARNING):
        raw = load_table(path, GENERIC_MAPPING, on_bad_rows="skip")

    assert raw.interactions["user_id"].tolist() == ["u1", "u1", "u2", "u3"]
    assert raw.interactions["rating"].tolist() == [4.5, 3.0, 1.0, 2.0]
    assert raw.interactions["scenario"].tolist() == ["home", "search", "home", "search"]
    assert_skip_logged(caplog, path, 1, 5, 3)
    assert value in skip_warnings(caplog, path)[0]


def test_generic_line_after_multiline_field(tmp_path: Path):
    lines = ["uid,iid,score,note", 'u1,i1,4,"two', 'lines"', "u2,i2,x,plain"]
    path = write_lines(tmp_path / "clicks.csv", lines)

    with pytest.raises(DataError) as caught:
        load_table(path, {"uid": "user", "iid": "item", "score": "rating"})

    assert_error_at(caught.value, path, 4, "'x'")


def test_generic_gzip_bad_row(tmp_path: Path):
    path = tmp_path / "clicks.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(with_line(GENERIC_LINES, 3, "u1,i2,3")) + "\n").encode("utf-8")))

    with pytest.raises(DataError) as caught:
        load_table(path, GENERIC_MAPPING)

    assert_error_at(caught.value, path, 3, "'u1,i2,3'")


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_generic_invalid_utf8(tmp_path: Path, on_bad_rows: str):
    path = write_lines(tmp_path / "clicks.csv", with_line(GENERIC_LINES, 3, "u1,café,3,1600000100,search"), "latin-1")

    with pytest.raises(DataError) as caught:
        load_table(path, GENERIC_MAPPING, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, path, 3, "invalid UTF-8 byte 0xe9")


@pytest.mark.parametrize("on_bad_rows", ["error", "skip"])
def test_generic_utf16(tmp_path: Path, on_bad_rows: str):
    path = write_lines(tmp_path / "clicks.csv", GENERIC_LINES, "utf-16")

    with pytest.raises(DataError) as caught:
        load_table(path, GENERIC_MAPPING, on_bad_rows=on_bad_rows)

    assert_error_at(caught.value, path, 1, "byte order mark ff fe")


def test_generic_separator_must_be_one_character(tmp_path: Path):
    path = write_lines(tmp_path / "clicks.csv", GENERIC_LINES)

    with pytest.raises(ConfigError, match="sep must be one character"):
        load_table(path, GENERIC_MAPPING, sep="::")


# --------------------------------------------------------------------------
# Empty scenarios and the policy value


def test_empty_scenario_logged(caplog: pytest.LogCaptureFixture):
    raw = tiny_raw()
    raw.users["age"] = np.int64(40)

    with caplog.at_level(logging.WARNING):
        assignment = assign_scenarios("age-group", raw)

    assert assignment.names == ("under-25", "25-34", "35-plus")
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "to 2 of 3 scenarios: under-25, 25-34" in warnings[0]


def test_no_warning_without_empty_scenario(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        assign_scenarios("age-group", tiny_raw())

    assert [record for record in caplog.records if record.levelno == logging.WARNING] == []


def invalid_policy_calls(tmp_path: Path) -> list:
    return [
        lambda policy: load_dataset("ml-100k", tmp_path, download=False, on_bad_rows=policy),
        lambda policy: load_ml100k(tmp_path, on_bad_rows=policy),
        lambda policy: load_ml1m(tmp_path, on_bad_rows=policy),
        lambda policy: load_csv_release(tmp_path, "ml-latest-small", on_bad_rows=policy),
        lambda policy: load_atomic(tmp_path, on_bad_rows=policy),
        lambda policy: load_douban_sample(tmp_path, on_bad_rows=policy),
        lambda policy: load_table(tmp_path / "t.csv", {"u": "user", "i": "item"}, on_bad_rows=policy),
    ]


@pytest.mark.parametrize("policy", ["ignore", "Skip", None])
def test_invalid_on_bad_rows(tmp_path: Path, policy):
    for call in invalid_policy_calls(tmp_path):
        with pytest.raises(ConfigError) as caught:
            call(policy)
        assert f"invalid on_bad_rows {policy!r}" in str(caught.value)
        assert "'error'" in str(caught.value)
        assert "'skip'" in str(caught.value)
