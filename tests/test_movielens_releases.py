"""Tests for the ml-1m, ml-10m and CSV-release loaders, the published-md5 check and the dataset registry."""

from __future__ import annotations

import functools
import hashlib
import http.server
import logging
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from conftest import real_data_root

from graphrec.data.download import ArchiveSpec
from graphrec.data.movielens_releases import (
    ML1M_OCCUPATIONS,
    ML_1M,
    ML_25M,
    RELEASES,
    ensure_release,
    fetch_published_md5,
    load_csv_release,
    load_ml10m,
    load_ml1m,
    load_release,
    resolve_expected_md5,
    split_genres,
    title_year,
)
from graphrec.data.registry import available_datasets, load_dataset
from graphrec.errors import DataError, DownloadError

# The 18 genres that the ml-1m README lists.
ML1M_README_GENRES = {
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
}  # fmt: skip

# ratings.dat lines for users and movies that the real ml-1m users.dat and movies.dat list.
ML1M_RATINGS = [
    "1::1::5::978300760",
    "1::73::3::978302109",
    "2::2::4::978298413",
    "3::3952::1::978297867",
    "6040::1::2::956703932",
]

CSV_RATINGS = [
    "userId,movieId,rating,timestamp",
    "1,1,4.0,964982703",
    "1,2,0.5,964981247",
    "2,1,5.0,1445714835",
    "2,3,3.5,1445714994",
    "3,4,2.0,1493848402",
    "3,5,1.5,1493850091",
    "4,1,3.0,1493844270",
]

CSV_MOVIES = [
    "movieId,title,genres",
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy",
    '2,"American President, The (1995)",Comedy|Drama|Romance',
    '3,"11\'09""01 - September 11 (2002)",Drama',
    "4,Babylon 5,(no genres listed)",
    "5,From Dusk Till Dawn 2: Texas Blood Money (1999) ,Comedy|Crime|Horror",
    "6,Never Rated (2001),Drama",
]

CSV_TAGS = [
    "userId,movieId,tag,timestamp",
    "2,1,pixar,1445714994",
    "2,1,fun,1445714996",
    "3,1,pixar,1445715000",
    '4,2,"politics, US",1445715001',
    "4,3,   ,1445715002",
    "4,99,orphan,1445715003",
    "5,3, Highly quotable ,1445715004",
]


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def write_csv_release(folder: Path, ratings=CSV_RATINGS, movies=CSV_MOVIES, tags=CSV_TAGS) -> Path:
    write_lines(folder / "ratings.csv", ratings, newline="\r\n")
    write_lines(folder / "movies.csv", movies, newline="\r\n")
    write_lines(folder / "tags.csv", tags, newline="\r\n")
    return folder


@pytest.fixture
def ml1m_folder(tmp_path: Path) -> Path:
    """The real ml-1m movies.dat and users.dat with a ratings.dat fixture beside them."""
    source = real_data_root("ml-1m") / "ml-1m"
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    shutil.copyfile(source / "movies.dat", folder / "movies.dat")
    shutil.copyfile(source / "users.dat", folder / "users.dat")
    write_lines(folder / "ratings.dat", ML1M_RATINGS, encoding="latin-1")
    return folder


# --------------------------------------------------------------------------
# ml-1m


@pytest.mark.real_data
def test_ml1m_real_movies_and_users(ml1m_folder: Path):
    data = load_ml1m(ml1m_folder)

    assert data.name == "ml-1m"
    assert len(data.interactions) == len(ML1M_RATINGS)
    assert len(data.items) == 3883
    assert len(data.users) == 6040
    assert set(data.genres) == ML1M_README_GENRES
    assert data.source_files == [ml1m_folder / "ratings.dat", ml1m_folder / "movies.dat", ml1m_folder / "users.dat"]


@pytest.mark.real_data
def test_ml1m_column_types(ml1m_folder: Path):
    data = load_ml1m(ml1m_folder)

    assert dict(data.interactions.dtypes.astype(str)) == {
        "user_id": "int64",
        "item_id": "int64",
        "rating": "float64",
        "timestamp": "int64",
    }
    assert list(data.items.columns) == ["item_id", "title", "year", "genres", "tags"]
    assert str(data.items["year"].dtype) == "Int64"
    assert list(data.users.columns) == ["user_id", "gender", "age", "occupation", "zip_code"]


@pytest.mark.real_data
def test_ml1m_latin1_titles_and_genres(ml1m_folder: Path):
    items = load_ml1m(ml1m_folder).items.set_index("item_id")

    assert items.loc[73, "title"] == "Misérables, Les (1995)"
    assert items.loc[73, "year"] == 1995
    assert items.loc[1, "genres"] == ("Animation", "Children's", "Comedy")
    assert items.loc[1, "tags"] == ()


@pytest.mark.real_data
def test_ml1m_user_codes_decoded(ml1m_folder: Path):
    users = load_ml1m(ml1m_folder).users.set_index("user_id")

    # users.dat line 1 is "1::F::1::10::48067".
    assert users.loc[1, "gender"] == "F"
    assert users.loc[1, "age"] == 1
    assert users.loc[1, "occupation"] == "K-12 student"
    assert users.loc[1, "zip_code"] == "48067"
    assert set(users["age"]) == {1, 18, 25, 35, 45, 50, 56}
    assert set(users["occupation"]) <= set(ML1M_OCCUPATIONS)


@pytest.mark.real_data
def test_ml1m_rating_of_unlisted_movie(ml1m_folder: Path):
    write_lines(ml1m_folder / "ratings.dat", ML1M_RATINGS + ["1::3953::4::978300760"])

    with pytest.raises(DataError, match="item_id 3953 is not listed in movies.dat") as info:
        load_ml1m(ml1m_folder)
    assert info.value.line == 6


@pytest.mark.real_data
def test_ml1m_half_star_rejected(ml1m_folder: Path):
    write_lines(ml1m_folder / "ratings.dat", ["1::1::5::978300760", "1::2::0.5::978300761"])

    with pytest.raises(DataError, match=r"invalid rating 0\.5, expected 1 to 5") as info:
        load_ml1m(ml1m_folder)
    assert info.value.line == 2


@pytest.mark.real_data
def test_ml1m_via_registry(ml1m_folder: Path):
    data = load_dataset("ml-1m", ml1m_folder.parent, download=False)

    assert len(data.interactions) == len(ML1M_RATINGS)
    assert len(data.users) == 6040


def test_ml1m_missing_ratings_file(tmp_path: Path):
    folder = tmp_path / "ml-1m"
    write_lines(folder / "movies.dat", ["1::Toy Story (1995)::Animation"])
    write_lines(folder / "users.dat", ["1::F::1::10::48067"])

    with pytest.raises(DataError, match="must contain ratings.dat") as info:
        load_ml1m(folder)
    assert info.value.path == folder / "ratings.dat"


@pytest.mark.parametrize(
    "line, message",
    [
        ("1::F::17::10::48067", "invalid age code 17"),
        ("1::X::1::10::48067", "invalid gender 'X'"),
        ("1::F::1::21::48067", "invalid occupation code 21"),
        ("1::F::1::10", "expected 5 fields"),
    ],
)
def test_ml1m_bad_user_line(tmp_path: Path, line: str, message: str):
    folder = tmp_path / "ml-1m"
    write_lines(folder / "ratings.dat", ["2::1::5::978300760"])
    write_lines(folder / "movies.dat", ["1::Toy Story (1995)::Animation"])
    write_lines(folder / "users.dat", ["2::M::56::16::70072", line])

    with pytest.raises(DataError, match=message) as info:
        load_ml1m(folder)
    assert info.value.line == 2


# --------------------------------------------------------------------------
# ml-10m layout


def write_ml10m(folder: Path, ratings: list[str] | None = None) -> Path:
    write_lines(
        folder / "ratings.dat",
        ratings or ["1::122::5::838985046", "1::185::4.5::838983525", "2::122::0.5::868245777"],
    )
    write_lines(
        folder / "movies.dat",
        [
            "122::Boomerang (1992)::Comedy|Romance",
            "185::Net, The (1995)::Action|Crime|Thriller",
            "300::Title Ending In A Colon: (2001)::(no genres listed)",
        ],
    )
    write_lines(
        folder / "tags.dat",
        ["15::122::dark comedy::1188263867", "20::185::time::travel::1138537770", "20::185::hackers::1138537771"],
    )
    return folder


def test_ml10m_half_stars_and_tags(tmp_path: Path):
    data = load_ml10m(write_ml10m(tmp_path / "ml-10M100K"))
    items = data.items.set_index("item_id")

    assert data.interactions["rating"].tolist() == [5.0, 4.5, 0.5]
    assert data.users is None
    assert items.loc[122, "tags"] == ("dark comedy",)
    # A tag may itself contain "::"; the timestamp is the last field.
    assert items.loc[185, "tags"] == ("hackers", "time::travel")
    assert items.loc[300, "title"] == "Title Ending In A Colon: (2001)"
    assert items.loc[300, "genres"] == ()


def test_ml10m_rating_above_five(tmp_path: Path):
    folder = write_ml10m(tmp_path / "ml-10M100K", ratings=["1::122::5::838985046", "1::185::5.5::838983525"])

    with pytest.raises(DataError, match=r"invalid rating 5\.5, expected 0\.5 to 5") as info:
        load_ml10m(folder)
    assert info.value.line == 2


# --------------------------------------------------------------------------
# CSV releases


def test_csv_release_quoted_titles(tmp_path: Path):
    items = load_csv_release(write_csv_release(tmp_path / "ml-test"), "ml-test").items.set_index("item_id")

    assert items.loc[2, "title"] == "American President, The (1995)"
    assert items.loc[2, "genres"] == ("Comedy", "Drama", "Romance")
    assert items.loc[3, "title"] == "11'09\"01 - September 11 (2002)"
    assert items.loc[3, "year"] == 2002


def test_csv_release_years_and_genres(tmp_path: Path):
    items = load_csv_release(write_csv_release(tmp_path / "ml-test"), "ml-test").items.set_index("item_id")

    assert items.loc[4, "genres"] == ()
    assert pd.isna(items.loc[4, "year"])
    # GroupLens titles sometimes end in a space after the year.
    assert items.loc[5, "year"] == 1999
    assert items.loc[6, "title"] == "Never Rated (2001)"


def test_csv_release_tags_per_item(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    folder = write_csv_release(tmp_path / "ml-test")
    with caplog.at_level(logging.INFO, logger="graphrec.data.movielens_releases"):
        items = load_csv_release(folder, "ml-test").items.set_index("item_id")

    assert items.loc[1, "tags"] == ("fun", "pixar")
    assert items.loc[2, "tags"] == ("politics, US",)
    assert items.loc[3, "tags"] == ("Highly quotable",)
    assert items.loc[4, "tags"] == ()
    assert "dropped 2 of 7 rows" in caplog.text
    assert "1 with an empty tag, 1 of movies not in the movies file" in caplog.text


def test_csv_release_logs_row_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    folder = write_csv_release(tmp_path / "ml-test")
    with caplog.at_level(logging.INFO, logger="graphrec.data.movielens_releases"):
        load_csv_release(folder, "ml-test")

    assert f"read {folder / 'ratings.csv'}: 7 rows" in caplog.text
    assert f"read {folder / 'movies.csv'}: 6 rows" in caplog.text
    assert f"read {folder / 'tags.csv'}: 7 rows" in caplog.text


def test_csv_release_wrong_header(tmp_path: Path):
    folder = write_csv_release(tmp_path / "ml-test", ratings=["user,item,rating,time"] + CSV_RATINGS[1:])

    with pytest.raises(DataError, match="expected the header userId,movieId,rating,timestamp") as info:
        load_csv_release(folder, "ml-test")
    assert info.value.line == 1


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("1,2,4.0", "expected 4 fields separated by ',', got 3"),
        ("1,2,4.0,12,5", "expected 4 fields separated by ',', got 5"),
        ("", "blank line"),
        ("1,x,4.0,964982703", "invalid item_id 'x', expected an integer"),
        ("1,2,four,964982703", "invalid rating 'four', expected a number"),
        ("1,2,nan,964982703", "invalid rating nan"),
        ("0,2,4.0,964982703", "invalid user_id 0"),
        ("1,2,4.0,-5", "invalid timestamp -5"),
        ("1,2,4.0,99999999999999999999", "does not fit in a 64-bit integer"),
        ("1,2,4.0,964982703\r2,3,4.0,964982703", "carriage return"),
    ],
)
@pytest.mark.parametrize("chunk_rows", [2, 1000])
def test_csv_ratings_bad_line_number(tmp_path: Path, bad_line: str, message: str, chunk_rows: int):
    # The bad line is line 6: the header, four good ratings, then the bad one.
    ratings = CSV_RATINGS[:5] + [bad_line] + CSV_RATINGS[5:]
    folder = write_csv_release(tmp_path / "ml-test", ratings=ratings)

    with pytest.raises(DataError, match=message) as info:
        load_csv_release(folder, "ml-test", chunk_rows=chunk_rows)
    assert info.value.line == 6
    assert info.value.path == folder / "ratings.csv"


def test_csv_movies_duplicate_id(tmp_path: Path):
    folder = write_csv_release(tmp_path / "ml-test", movies=CSV_MOVIES + ["2,Again (1990),Drama"])

    with pytest.raises(DataError, match="duplicate movie id 2, first listed on line 3") as info:
        load_csv_release(folder, "ml-test")
    assert info.value.line == 8


def test_csv_movies_non_utf8(tmp_path: Path):
    folder = write_csv_release(tmp_path / "ml-test")
    write_lines(folder / "movies.csv", CSV_MOVIES[:2] + ["9,Misérables (1995),Drama"], encoding="latin-1")

    with pytest.raises(DataError, match="invalid UTF-8 byte 0xe9") as info:
        load_csv_release(folder, "ml-test")
    assert info.value.line == 3


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 5])
def test_chunked_csv_equals_one_shot(tmp_path: Path, chunk_rows: int):
    folder = write_csv_release(tmp_path / "ml-test")

    one_shot = load_csv_release(folder, "ml-test", chunk_rows=10**6).interactions
    chunked = load_csv_release(folder, "ml-test", chunk_rows=chunk_rows).interactions

    pd.testing.assert_frame_equal(chunked, one_shot)
    assert len(one_shot) == len(CSV_RATINGS) - 1


@pytest.mark.parametrize("chunk_rows", [1, 2])
def test_chunked_dat_equals_one_shot(tmp_path: Path, chunk_rows: int):
    folder = write_ml10m(tmp_path / "ml-10M100K")

    one_shot = load_ml10m(folder, chunk_rows=10**6).interactions
    chunked = load_ml10m(folder, chunk_rows=chunk_rows).interactions

    pd.testing.assert_frame_equal(chunked, one_shot)


def test_ratings_without_final_newline(tmp_path: Path):
    folder = write_csv_release(tmp_path / "ml-test")
    (folder / "ratings.csv").write_text("\n".join(CSV_RATINGS))

    assert len(load_csv_release(folder, "ml-test", chunk_rows=3).interactions) == len(CSV_RATINGS) - 1


def test_title_year_and_genre_split():
    assert title_year("Toy Story (1995)") == 1995
    assert title_year("Babylon 5") is None
    assert title_year("Death Note: Desu nôto (2006–2007)") is None
    assert split_genres("(no genres listed)") == ()
    assert split_genres("Comedy|Drama") == ("Comedy", "Drama")


@pytest.mark.real_data
def test_ml_latest_small_real_counts():
    root = real_data_root("ml-latest-small")
    data = load_csv_release(root / "ml-latest-small", "ml-latest-small")

    assert len(data.interactions) == 100_836
    assert data.interactions["user_id"].nunique() == 610
    assert data.interactions["item_id"].nunique() == 9_724
    assert len(data.items) == 9_742
    assert data.users is None
    assert data.interactions["rating"].between(0.5, 5.0).all()


@pytest.mark.real_data
def test_ml_latest_small_real_titles_and_tags():
    root = real_data_root("ml-latest-small")
    items = load_csv_release(root / "ml-latest-small", "ml-latest-small").items.set_index("item_id")

    assert items.loc[11, "title"] == "American President, The (1995)"
    assert items.loc[11, "year"] == 1995
    assert items.loc[11, "genres"] == ("Comedy", "Drama", "Romance")
    assert items.loc[1, "tags"] == ("fun", "pixar")
    assert (items["tags"].map(len) > 0).sum() == 1_572
    assert (items["genres"].map(len) == 0).sum() == 34


@pytest.mark.real_data
def test_ml_latest_small_via_registry():
    root = real_data_root("ml-latest-small")
    data = load_dataset("ml-latest-small", root, download=False)

    assert data.name == "ml-latest-small"
    assert len(data.interactions) == 100_836


@pytest.mark.real_data
def test_ml_latest_small_from_real_zip(tmp_path: Path):
    root = real_data_root("ml-latest-small")
    shutil.copyfile(root / "ml-latest-small" / "ml-latest-small.zip", tmp_path / "ml-latest-small.zip")

    data = load_dataset("ml-latest-small", tmp_path, download=False)

    assert (tmp_path / "ml-latest-small" / "ratings.csv").is_file()
    assert len(data.interactions) == 100_836
    assert len(data.items) == 9_742


# --------------------------------------------------------------------------
# Archive specs and published checksums


def test_specs_cover_grouplens_releases():
    assert set(RELEASES) == {"ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "ml-latest"}
    for spec in RELEASES.values():
        assert spec.url == f"https://files.grouplens.org/datasets/movielens/{spec.name}.zip"
    assert ML_1M.md5 == "c4d9eecfca2ab87c1945afe126590906"
    assert ML_25M.md5 == "6b51fb2759a8657d3bfcbfc42b592ada"
    assert RELEASES["ml-10m"].folder == "ml-10M100K"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class names it so
        pass


@pytest.fixture
def served_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1, with its base URL."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def make_release_zip(tmp_path: Path, served: Path, name: str = "ml-test") -> tuple[Path, str]:
    """Zip a small CSV release under the top folder ``name`` into ``served`` and return it with its md5."""
    source = write_csv_release(tmp_path / "source" / name)
    archive = served / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(source.iterdir()):
            zf.write(file, f"{name}/{file.name}")
    return archive, hashlib.md5(archive.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "content",
    [
        "MD5 (ml-test.zip) = {digest}\n",
        "{digest}  ml-test.zip\n",
        "{digest}\n",
    ],
)
def test_fetch_published_md5_formats(served_folder, content: str):
    folder, base = served_folder
    digest = "0123456789abcdef0123456789ABCDEF"
    (folder / "ml-test.zip.md5").write_text(content.format(digest=digest))

    assert fetch_published_md5(base + "ml-test.zip") == digest.lower()


def test_fetch_published_md5_other_file(served_folder):
    folder, base = served_folder
    (folder / "ml-test.zip.md5").write_text("MD5 (ml-other.zip) = 0123456789abcdef0123456789abcdef\n")

    with pytest.raises(DownloadError, match="is for 'ml-other.zip', not for 'ml-test.zip'"):
        fetch_published_md5(base + "ml-test.zip")


def test_fetch_published_md5_missing(served_folder):
    _, base = served_folder

    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_published_md5(base + "ml-test.zip")


def test_fetch_published_md5_no_digest(served_folder):
    folder, base = served_folder
    (folder / "ml-test.zip.md5").write_text("<html>not found</html>\n")

    with pytest.raises(DownloadError, match="has no md5 digest"):
        fetch_published_md5(base + "ml-test.zip")


def test_download_checked_against_published_md5(tmp_path: Path, served_folder):
    folder, base = served_folder
    _, digest = make_release_zip(tmp_path, folder)
    (folder / "ml-test.zip.md5").write_text(f"MD5 (ml-test.zip) = {digest}\n")
    spec = ArchiveSpec("ml-test", base + "ml-test.zip", None, None, "ml-test", "ratings.csv")
    root = tmp_path / "data"

    extracted = ensure_release(spec, root)

    assert extracted == root / "ml-test"
    assert len(load_csv_release(extracted, "ml-test").interactions) == len(CSV_RATINGS) - 1


def test_download_rejects_archive_unlike_published(tmp_path: Path, served_folder):
    folder, base = served_folder
    make_release_zip(tmp_path, folder)
    (folder / "ml-test.zip.md5").write_text("MD5 (ml-test.zip) = 0123456789abcdef0123456789abcdef\n")
    spec = ArchiveSpec("ml-test", base + "ml-test.zip", None, None, "ml-test", "ratings.csv")
    root = tmp_path / "data"

    with pytest.raises(DownloadError, match="wrong md5 checksum"):
        ensure_release(spec, root)
    assert not (root / "ml-test.zip").exists()
    assert not (root / "ml-test").exists()


def test_pinned_md5_disagrees_with_published(tmp_path: Path, served_folder):
    folder, base = served_folder
    _, digest = make_release_zip(tmp_path, folder)
    (folder / "ml-test.zip.md5").write_text(f"MD5 (ml-test.zip) = {digest}\n")
    pinned = "f" * 32
    spec = ArchiveSpec("ml-test", base + "ml-test.zip", None, pinned, "ml-test", "ratings.csv")

    with pytest.raises(DownloadError, match=f"pinned md5 {pinned} of ml-test.zip differs from the md5 {digest}"):
        resolve_expected_md5(spec)
    with pytest.raises(DownloadError, match="differs from the md5"):
        ensure_release(spec, tmp_path / "data")
    assert not (tmp_path / "data" / "ml-test.zip").exists()


def test_pinned_md5_used_when_published_missing(tmp_path: Path, served_folder):
    folder, base = served_folder
    _, digest = make_release_zip(tmp_path, folder)
    spec = ArchiveSpec("ml-test", base + "ml-test.zip", None, digest, "ml-test", "ratings.csv")

    assert resolve_expected_md5(spec) == digest
    assert ensure_release(spec, tmp_path / "data").is_dir()


def test_unverifiable_download_rejected(tmp_path: Path, served_folder):
    folder, base = served_folder
    make_release_zip(tmp_path, folder)
    spec = ArchiveSpec("ml-test", base + "ml-test.zip", None, None, "ml-test", "ratings.csv")

    with pytest.raises(DownloadError, match="cannot verify ml-test.zip, which has no pinned md5"):
        ensure_release(spec, tmp_path / "data")
    assert not (tmp_path / "data" / "ml-test.zip").exists()


def test_local_archive_with_wrong_pinned_md5(tmp_path: Path):
    root = tmp_path / "data"
    root.mkdir()
    make_release_zip(tmp_path, root)
    spec = ArchiveSpec("ml-test", "http://127.0.0.1:9/ml-test.zip", None, "0" * 32, "ml-test", "ratings.csv")

    with pytest.raises(DownloadError, match="corrupt archive: expected md5 0000"):
        ensure_release(spec, root, download=False)
    assert not (root / "ml-test").exists()


def test_local_archive_without_md5_extracted(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "data"
    root.mkdir()
    make_release_zip(tmp_path, root)
    spec = ArchiveSpec("ml-test", "http://127.0.0.1:9/ml-test.zip", None, None, "ml-test", "ratings.csv")

    with caplog.at_level(logging.WARNING, logger="graphrec.data.movielens_releases"):
        folder = ensure_release(spec, root, download=False)

    assert (folder / "ratings.csv").is_file()
    assert "without a checksum check" in caplog.text


def test_missing_release_without_download(tmp_path: Path):
    with pytest.raises(DataError, match="ml-20m not found under .* and downloading is off"):
        load_release("ml-20m", tmp_path, download=False)


# --------------------------------------------------------------------------
# Registry


def test_registry_names():
    assert available_datasets() == sorted(
        ["ml-100k", "ml-1m", "ml-latest-small", "ml-latest", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "douban-sample",
         "synthetic[:N][,key=value...]"]
    )


def test_registry_unknown_name(tmp_path: Path):
    with pytest.raises(DataError, match="unknown dataset 'ml-2m'. Known datasets: .*ml-100k.*ml-1m"):
        load_dataset("ml-2m", tmp_path)


def test_registry_ml10m_folder_name(tmp_path: Path):
    write_ml10m(tmp_path / "ml-10M100K")

    data = load_dataset("ml-10m", tmp_path, download=False)

    assert data.name == "ml-10m"
    assert len(data.interactions) == 3


@pytest.mark.real_data
def test_registry_ml100k():
    root = real_data_root("ml-100k")

    data = load_dataset("ml-100k", root, download=False)

    assert len(data.interactions) == 100_000
