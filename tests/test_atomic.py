"""Tests for the RecBole atomic-file loader, on ml-100k converted in the test and on small fixtures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import real_data_root

from graphrec.data.atomic import load_atomic, read_atomic_file
from graphrec.data.movielens import load_ml100k
from graphrec.data.scenarios import assign_scenarios
from graphrec.errors import DataError


def write_atomic(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(str(value) for value in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ml100k_atomic(tmp_path_factory: pytest.TempPathFactory):
    """The real ml-100k written as RecBole atomic files (as RecBole's own ml-100k conversion types them)."""
    raw = load_ml100k(real_data_root("ml-100k") / "ml-100k")
    folder = tmp_path_factory.mktemp("atomic") / "ml-100k"

    interactions = raw.interactions
    write_atomic(
        folder / "ml-100k.inter",
        ["user_id:token", "item_id:token", "rating:float", "timestamp:float"],
        list(interactions[["user_id", "item_id", "rating", "timestamp"]].itertuples(index=False)),
    )
    item_rows = [
        [item_id, title, "" if pd.isna(year) else int(year), " ".join(genres)]
        for item_id, title, year, genres in raw.items[["item_id", "title", "year", "genres"]].itertuples(index=False)
    ]
    write_atomic(
        folder / "ml-100k.item",
        ["item_id:token", "movie_title:token_seq", "release_year:token", "class:token_seq"],
        item_rows,
    )
    write_atomic(
        folder / "ml-100k.user",
        ["user_id:token", "age:token", "gender:token", "occupation:token", "zip_code:token"],
        list(raw.users[["user_id", "age", "gender", "occupation", "zip_code"]].itertuples(index=False)),
    )
    return raw, folder


@pytest.mark.real_data
def test_ml100k_atomic_counts(ml100k_atomic):
    _, folder = ml100k_atomic
    data = load_atomic(folder)

    assert data.name == "ml-100k"
    assert len(data.interactions) == 100_000
    assert data.interactions["user_id"].nunique() == 943
    assert data.interactions["item_id"].nunique() == 1_682
    assert len(data.items) == 1_682
    assert len(data.users) == 943


@pytest.mark.real_data
def test_ml100k_atomic_matches_original(ml100k_atomic):
    raw, folder = ml100k_atomic
    data = load_atomic(folder)

    assert data.interactions["user_id"].tolist() == raw.interactions["user_id"].astype(str).tolist()
    assert data.interactions["item_id"].tolist() == raw.interactions["item_id"].astype(str).tolist()
    assert data.interactions["rating"].tolist() == raw.interactions["rating"].tolist()
    assert data.interactions["timestamp"].tolist() == raw.interactions["timestamp"].tolist()

    original = raw.items.set_index(raw.items["item_id"].astype(str))
    loaded = data.items.set_index("item_id")
    assert loaded["title"].tolist() == original["title"].tolist()
    assert loaded["genres"].tolist() == original["genres"].tolist()
    assert loaded["year"].tolist() == original["year"].tolist()
    assert data.genres == sorted(raw.genres)


@pytest.mark.real_data
def test_ml100k_atomic_ages_numeric(ml100k_atomic):
    raw, folder = ml100k_atomic
    data = load_atomic(folder)

    assert str(data.users["age"].dtype) == "int64"
    assert data.users["age"].tolist() == raw.users["age"].tolist()
    assignment = assign_scenarios("age-group", data)
    assert len(assignment.interaction_scenario) == 100_000


def test_unknown_type_names_header_file_column(tmp_path: Path):
    header = ["user_id:token", "item_id:token", "rating:double"]
    path = write_atomic(tmp_path / "toy" / "toy.inter", header, [[1, 2, 3]])

    message = r"header field 'rating:double' \(column 3\) has the unknown type 'double'"
    with pytest.raises(DataError, match=message) as info:
        load_atomic(tmp_path / "toy")
    assert info.value.path == path
    assert info.value.line == 1
    assert str(path) in str(info.value)


def test_header_field_without_type(tmp_path: Path):
    write_atomic(tmp_path / "toy" / "toy.inter", ["user_id:token", "item_id"], [[1, 2]])

    with pytest.raises(DataError, match=r"header field 'item_id' \(column 2\) has no type"):
        load_atomic(tmp_path / "toy")


def test_defaults_without_rating_and_timestamp(tmp_path: Path):
    write_atomic(tmp_path / "toy" / "toy.inter", ["user_id:token", "item_id:token"], [["u1", "i1"], ["u2", "i1"]])

    data = load_atomic(tmp_path / "toy")

    assert data.interactions["rating"].tolist() == [1.0, 1.0]
    assert data.interactions["timestamp"].tolist() == [0, 0]
    assert str(data.interactions["timestamp"].dtype) == "int64"
    assert data.items["item_id"].tolist() == ["i1"]
    assert data.items["genres"].tolist() == [()]
    assert data.users is None


def test_extra_fields_and_sequences(tmp_path: Path):
    folder = tmp_path / "toy"
    write_atomic(
        folder / "toy.inter",
        ["user_id:token", "item_id:token", "timestamp:float", "clicks:float_seq", "context:token"],
        [["u1", "i1", "1.6e9", "1 2.5", "home"], ["u1", "i2", "1600000000.4", "", "search"]],
    )
    write_atomic(
        folder / "toy.item",
        ["item_id:token", "title:token_seq", "genre:token_seq", "price:float"],
        [["i1", "A  Title", "Drama  Comedy", "9.5"], ["i3", "Unrated", "", ""]],
    )

    data = load_atomic(folder)
    items = data.items.set_index("item_id")

    assert data.interactions["timestamp"].tolist() == [1_600_000_000, 1_600_000_000]
    assert data.interactions["clicks"].tolist() == [(1.0, 2.5), ()]
    assert data.interactions["context"].tolist() == ["home", "search"]
    assert items.loc["i1", "title"] == "A  Title"
    assert items.loc["i1", "genres"] == ("Drama", "Comedy")
    assert items.loc["i1", "price"] == 9.5
    assert pd.isna(items.loc["i3", "price"])
    # i2 has interactions but no .item row.
    assert items.loc["i2", "genres"] == ()
    assert pd.isna(items.loc["i2", "title"])
    assert data.genres == ["Comedy", "Drama"]


def test_wrong_field_count_line(tmp_path: Path):
    path = tmp_path / "toy" / "toy.inter"
    path.parent.mkdir()
    path.write_text("user_id:token\titem_id:token\trating:float\nu1\ti1\t3\nu2\ti2\n", encoding="utf-8")

    with pytest.raises(DataError, match="got 2 fields, expected 3") as info:
        load_atomic(tmp_path / "toy")
    assert info.value.line == 3


def test_invalid_rating_line(tmp_path: Path):
    write_atomic(
        tmp_path / "toy" / "toy.inter",
        ["user_id:token", "item_id:token", "rating:float"],
        [["u1", "i1", "4"], ["u1", "i2", "good"]],
    )

    with pytest.raises(DataError, match="invalid rating 'good', expected a number") as info:
        load_atomic(tmp_path / "toy")
    assert info.value.line == 3


def test_duplicate_item_line(tmp_path: Path):
    folder = tmp_path / "toy"
    write_atomic(folder / "toy.inter", ["user_id:token", "item_id:token"], [["u1", "i1"]])
    write_atomic(folder / "toy.item", ["item_id:token", "title:token_seq"], [["i1", "A"], ["i1", "B"]])

    with pytest.raises(DataError, match="duplicate item_id 'i1', first listed on line 2") as info:
        load_atomic(folder)
    assert info.value.line == 3


def test_missing_item_field(tmp_path: Path):
    write_atomic(tmp_path / "toy" / "toy.inter", ["user_id:token", "movie_id:token"], [["u1", "i1"]])

    with pytest.raises(DataError, match="the header has no item_id field"):
        load_atomic(tmp_path / "toy")


def test_missing_inter_file(tmp_path: Path):
    (tmp_path / "toy").mkdir()

    with pytest.raises(DataError, match="needs toy.inter"):
        load_atomic(tmp_path / "toy")


def test_read_atomic_file_types(tmp_path: Path):
    path = write_atomic(tmp_path / "x.inter", ["user_id:token", "item_id:token", "tags:token_seq"], [["1", "2", "a b"]])

    table = read_atomic_file(path)

    assert table.types == {"user_id": "token", "item_id": "token", "tags": "token_seq"}
    assert table.values["tags"] == ["a b"]
    assert len(table) == 1
