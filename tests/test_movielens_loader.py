"""Tests for the MovieLens 100K loader, on small files written by each test."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from conftest import real_data_root

from graphrec.data.movielens import ML100K_GENRES, load_ml100k, load_movielens
from graphrec.errors import DataError, DownloadError

RATINGS = [
    "1\t10\t5\t881250949",
    "1\t20\t3\t881250950",
    "2\t10\t4\t891717742",
    "2\t30\t1\t891717743",
    "3\t40\t2\t878887116",
]


def genre_flags(*names: str) -> str:
    return "|".join("1" if genre in names else "0" for genre in ML100K_GENRES)


ITEMS = [
    "10|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|"
    + genre_flags("Animation", "Children's", "Comedy"),
    "20|Misérables, Les (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Mis%E9rables|"
    + genre_flags("Drama", "Musical"),
    "30|Land Before Time III (1995) (V)|01-Jan-1997||http://us.imdb.com/M/x|" + genre_flags("Animation"),
    "40|Two Friends |26-Apr-1986||http://us.imdb.com/M/y|" + genre_flags("Drama"),
    "50|unknown||||" + genre_flags("unknown"),
]

USERS = [
    "1|24|M|technician|85711",
    "2|53|F|other|94043",
    "3|23|M|writer|T8H1N",
]


def write_ml100k(folder: Path, ratings=RATINGS, items=ITEMS, users=USERS) -> Path:
    """Write u.data, u.item (latin-1) and u.user into ``folder`` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("\n".join(ratings) + "\n", encoding="latin-1")
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")
    (folder / "u.user").write_text("\n".join(users) + "\n", encoding="latin-1")
    return folder


def zip_folder(folder: Path, archive: Path, top: str | None = "ml-100k") -> Path:
    """Pack the files of ``folder`` into ``archive``, under the folder ``top`` when given."""
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(folder.iterdir()):
            member = f"{top}/{file.name}" if top else file.name
            zf.write(file, member)
    return archive


@pytest.fixture
def ml_folder(tmp_path: Path) -> Path:
    return write_ml100k(tmp_path / "ml-100k")


def test_folder_row_counts(ml_folder: Path):
    data = load_ml100k(ml_folder)

    assert data.name == "ml-100k"
    assert len(data.interactions) == 5
    assert len(data.items) == 5
    assert len(data.users) == 3
    assert data.genres == list(ML100K_GENRES)
    assert data.source_files == [ml_folder / "u.data", ml_folder / "u.item", ml_folder / "u.user"]


def test_column_dtypes(ml_folder: Path):
    data = load_ml100k(ml_folder)

    assert list(data.interactions.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert data.interactions["user_id"].dtype == "int64"
    assert data.interactions["item_id"].dtype == "int64"
    assert data.interactions["rating"].dtype == "float64"
    assert data.interactions["timestamp"].dtype == "int64"

    assert list(data.items.columns) == ["item_id", "title", "year", "genres"]
    assert data.items["item_id"].dtype == "int64"
    assert data.items["year"].dtype == "Int64"

    assert list(data.users.columns) == ["user_id", "age", "gender", "occupation", "zip_code"]
    assert data.users["user_id"].dtype == "int64"
    assert data.users["age"].dtype == "int64"


def test_raw_ids_kept(ml_folder: Path):
    data = load_ml100k(ml_folder)

    assert data.interactions["item_id"].tolist() == [10, 20, 10, 30, 40]
    assert data.items["item_id"].tolist() == [10, 20, 30, 40, 50]
    assert data.users["zip_code"].tolist() == ["85711", "94043", "T8H1N"]


def test_latin1_title_decoded(ml_folder: Path):
    items = load_ml100k(ml_folder).items.set_index("item_id")

    assert items.loc[20, "title"] == "Misérables, Les (1995)"
    # Titles are kept as in the file, trailing space included.
    assert items.loc[40, "title"] == "Two Friends "


def test_genres_tuple(ml_folder: Path):
    items = load_ml100k(ml_folder).items.set_index("item_id")

    assert items.loc[10, "genres"] == ("Animation", "Children's", "Comedy")
    assert items.loc[20, "genres"] == ("Drama", "Musical")
    assert items.loc[50, "genres"] == ("unknown",)


def test_year_from_title_or_date(ml_folder: Path):
    years = load_ml100k(ml_folder).items.set_index("item_id")["year"]

    assert years.loc[10] == 1995
    # The "(1995)" before the "(V)" suffix wins over the 1997 release date.
    assert years.loc[30] == 1995
    # No year in the title, so it comes from the release date.
    assert years.loc[40] == 1986
    assert pd.isna(years.loc[50])


def test_zip_matches_folder(ml_folder: Path, tmp_path: Path):
    archive = zip_folder(ml_folder, tmp_path / "ml-100k.zip")

    from_folder = load_ml100k(ml_folder)
    from_zip = load_ml100k(archive)

    pd.testing.assert_frame_equal(from_zip.interactions, from_folder.interactions)
    pd.testing.assert_frame_equal(from_zip.items, from_folder.items)
    pd.testing.assert_frame_equal(from_zip.users, from_folder.users)
    assert from_zip.source_files == [archive]


def test_zip_without_top_folder(ml_folder: Path, tmp_path: Path):
    archive = zip_folder(ml_folder, tmp_path / "flat.zip", top=None)

    data = load_ml100k(archive)

    assert len(data.interactions) == 5
    assert data.items.set_index("item_id").loc[20, "title"] == "Misérables, Les (1995)"


def test_zip_not_extracted(ml_folder: Path, tmp_path: Path):
    (tmp_path / "packed").mkdir()
    archive = zip_folder(ml_folder, tmp_path / "packed" / "ml-100k.zip")

    load_ml100k(archive)

    assert sorted(os.listdir(tmp_path / "packed")) == ["ml-100k.zip"]


def test_non_numeric_rating_line(tmp_path: Path):
    ratings = list(RATINGS)
    ratings[2] = "2\t10\tfour\t891717742"
    folder = write_ml100k(tmp_path / "ml-100k", ratings=ratings)

    with pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert caught.value.line == 3
    assert caught.value.path == folder / "u.data"
    assert "rating" in str(caught.value)
    assert "'four'" in str(caught.value)
    assert str(caught.value).startswith(f"{folder / 'u.data'}:3: ")


def test_non_numeric_item_id_line(tmp_path: Path):
    items = list(ITEMS)
    items[3] = items[3].replace("40|", "4O|", 1)
    folder = write_ml100k(tmp_path / "ml-100k", items=items)

    with pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert caught.value.line == 4
    assert caught.value.path == folder / "u.item"
    assert "item_id" in str(caught.value)


def test_non_numeric_user_id_in_zip(tmp_path: Path):
    users = list(USERS)
    users[1] = "x|53|F|other|94043"
    folder = write_ml100k(tmp_path / "ml-100k", users=users)
    archive = zip_folder(folder, tmp_path / "ml-100k.zip")

    with pytest.raises(DataError) as caught:
        load_ml100k(archive)

    assert caught.value.line == 2
    assert caught.value.path == archive / "ml-100k" / "u.user"


def test_wrong_field_count_line(tmp_path: Path):
    ratings = list(RATINGS)
    ratings[3] = "2\t30\t1\t891717743\t7"
    folder = write_ml100k(tmp_path / "ml-100k", ratings=ratings)

    with pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert caught.value.line == 4
    assert "expected 4 fields" in str(caught.value)
    assert "got 5" in str(caught.value)


def test_too_few_item_fields(tmp_path: Path):
    items = list(ITEMS)
    items[1] = "20|Misérables, Les (1995)|01-Jan-1995"
    folder = write_ml100k(tmp_path / "ml-100k", items=items)

    with pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert caught.value.line == 2
    assert "expected 24 fields" in str(caught.value)


def test_blank_line_rejected(tmp_path: Path):
    ratings = RATINGS[:2] + [""] + RATINGS[2:]
    folder = write_ml100k(tmp_path / "ml-100k", ratings=ratings)

    with pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert caught.value.line == 3
    assert "blank line" in str(caught.value)


@pytest.mark.parametrize("rating", ["0", "6", "-1"])
def test_rating_out_of_range(tmp_path: Path, rating: str):
    ratings = list(RATINGS)
    ratings[4] = f"3\t40\t{rating}\t878887116"
    folder = write_ml100k(tmp_path / "ml-100k", ratings=ratings)

    with pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert caught.value.line == 5
    assert "outside 1..5" in str(caught.value)


def test_bad_genre_flag(tmp_path: Path):
    items = list(ITEMS)
    items[2] = items[2][:-1] + "2"
    folder = write_ml100k(tmp_path / "ml-100k", items=items)

    with pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert caught.value.line == 3
    assert "Western" in str(caught.value)


def test_duplicate_item_id(tmp_path: Path):
    items = ITEMS + [ITEMS[0]]
    folder = write_ml100k(tmp_path / "ml-100k", items=items)

    with pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert caught.value.line == 6
    assert "duplicate item_id 10" in str(caught.value)


def test_missing_file_named(ml_folder: Path):
    (ml_folder / "u.user").unlink()

    with pytest.raises(DataError) as caught:
        load_ml100k(ml_folder)

    assert caught.value.path == ml_folder / "u.user"
    assert "u.user" in str(caught.value)
    assert "file not found" in str(caught.value)
    assert str(ml_folder) in str(caught.value)


def test_missing_zip_member_named(ml_folder: Path, tmp_path: Path):
    (ml_folder / "u.item").unlink()
    archive = zip_folder(ml_folder, tmp_path / "ml-100k.zip")

    with pytest.raises(DataError) as caught:
        load_ml100k(archive)

    assert caught.value.path == archive
    assert "ml-100k/u.item" in str(caught.value)


def test_missing_path(tmp_path: Path):
    with pytest.raises(DataError) as caught:
        load_ml100k(tmp_path / "nowhere")

    assert caught.value.path == tmp_path / "nowhere"
    assert "not found" in str(caught.value)


def test_invalid_zip(tmp_path: Path):
    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(b"not a zip")

    with pytest.raises(DataError, match="invalid zip archive"):
        load_ml100k(archive)


def test_load_movielens_existing_folder(tmp_path: Path):
    write_ml100k(tmp_path / "ml-100k")

    data = load_movielens("ml-100k", tmp_path, download=False)

    assert len(data.interactions) == 5


def test_load_movielens_corrupt_local_zip(tmp_path: Path):
    # A local ml-100k.zip must match the published size and md5, so a small
    # fixture archive is reported as corrupt rather than extracted.
    folder = write_ml100k(tmp_path / "source" / "ml-100k")
    (tmp_path / "root").mkdir()
    zip_folder(folder, tmp_path / "root" / "ml-100k.zip")

    with pytest.raises(DownloadError) as caught:
        load_movielens("ml-100k", tmp_path / "root", download=False)

    assert caught.value.path == tmp_path / "root" / "ml-100k.zip"
    assert "Delete this file" in str(caught.value)


def test_load_movielens_absent_without_download(tmp_path: Path):
    with pytest.raises(DataError) as caught:
        load_movielens("ml-100k", tmp_path, download=False)

    assert str(tmp_path / "ml-100k.zip") in str(caught.value)
    assert str(tmp_path / "ml-100k" / "u.data") in str(caught.value)


def test_load_movielens_unknown_name(tmp_path: Path):
    with pytest.raises(DataError) as caught:
        load_movielens("ml-5m", tmp_path)

    assert "'ml-5m'" in str(caught.value)
    assert "ml-100k" in str(caught.value)


@pytest.mark.real_data
def test_real_ml100k():
    """Load the real release when GRAPHREC_DATA points at a folder containing ml-100k."""
    data = load_ml100k(real_data_root("ml-100k") / "ml-100k")

    assert len(data.interactions) == 100_000
    assert data.interactions["user_id"].nunique() == 943
    assert data.interactions["item_id"].nunique() == 1682
    assert len(data.users) == 943
    assert len(data.items) == 1682
    assert data.items.set_index("item_id").loc[543, "title"] == "Misérables, Les (1995)"
