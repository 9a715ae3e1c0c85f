"""Tests for the Douban multi-domain sample loader, on the real sample and on small fixtures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import real_data_root

from graphrec.data.douban import DOUBAN_COLUMNS, DOUBAN_FILE, DOUBAN_FOLDER, load_douban_sample
from graphrec.data.registry import load_dataset
from graphrec.errors import DataError

HEADER = ",".join(DOUBAN_COLUMNS)
ROWS = [
    "1691,34964,1,book,北京,2007-07-10,27",
    "2133,96073,1,movie,浙江杭州,2008-01-03,33",
    "2133,131210,0,music,浙江杭州,2008-01-03,33",
    "1913,96073,0,movie,,2010-10-03,66",
]


def write_sample(folder: Path, rows: list[str] = ROWS, header: str = HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DOUBAN_FILE
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.real_data
def test_real_sample_counts():
    data = load_douban_sample(real_data_root(DOUBAN_FOLDER) / DOUBAN_FOLDER)

    assert len(data.interactions) == 3_000
    assert data.interactions["user_id"].nunique() == 1_352
    assert data.interactions["item_id"].nunique() == 2_502
    assert len(data.users) == 1_352
    assert len(data.items) == 2_502


@pytest.mark.real_data
def test_real_sample_domains():
    data = load_douban_sample(real_data_root(DOUBAN_FOLDER) / DOUBAN_FOLDER)

    assert data.interactions["domain"].value_counts().to_dict() == {"movie": 2_299, "book": 364, "music": 337}
    assert data.items["domain"].isin(["movie", "book", "music"]).all()


@pytest.mark.real_data
def test_real_sample_binary_ratings():
    data = load_douban_sample(real_data_root(DOUBAN_FOLDER) / DOUBAN_FOLDER)

    assert data.interactions["rating"].value_counts().to_dict() == {1.0: 1_936, 0.0: 1_064}
    assert (data.interactions["timestamp"] == 0).all()
    assert list(data.interactions.columns) == ["user_id", "item_id", "rating", "timestamp", "domain"]


@pytest.mark.real_data
def test_real_sample_chinese_places():
    data = load_douban_sample(real_data_root(DOUBAN_FOLDER) / DOUBAN_FOLDER)
    users = data.users.set_index("user_id")

    assert users.loc[1691, "living_place"] == "北京"
    assert users.loc[2133, "living_place"] == "浙江杭州"
    assert users["living_place"].isna().any()
    assert users.loc[1691, "join_time"] == "2007-07-10"


@pytest.mark.real_data
def test_real_sample_via_registry():
    data = load_dataset("douban-sample", real_data_root(DOUBAN_FOLDER), download=False)

    assert data.name == "douban-sample"
    assert len(data.interactions) == 3_000


def test_fixture_tables(tmp_path: Path):
    path = write_sample(tmp_path / DOUBAN_FOLDER)

    data = load_douban_sample(path)
    users = data.users.set_index("user_id")
    items = data.items.set_index("item_id")

    assert data.interactions["rating"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert data.interactions["domain"].tolist() == ["book", "movie", "music", "movie"]
    assert len(users) == 3
    assert pd.isna(users.loc[1913, "living_place"])
    assert users.loc[2133, "time_bin"] == 33
    assert items.loc[96073, "domain"] == "movie"
    assert items.loc[96073, "genres"] == ()
    assert data.source_files == [path]


def test_rating_not_binary(tmp_path: Path):
    write_sample(tmp_path, ROWS + ["5,6,4,book,北京,2007-07-10,27"])

    with pytest.raises(DataError, match="invalid rating '4', expected 0 or 1") as info:
        load_douban_sample(tmp_path)
    assert info.value.line == 6


def test_item_in_two_domains(tmp_path: Path):
    write_sample(tmp_path, ROWS + ["5,34964,1,movie,北京,2007-07-10,27"])

    with pytest.raises(DataError, match=r"item_id 34964 has domain \['movie'\] here but \['book'\] on line 2") as info:
        load_douban_sample(tmp_path)
    assert info.value.line == 6


def test_user_place_differs(tmp_path: Path):
    write_sample(tmp_path, ROWS + ["1691,96073,1,movie,上海,2007-07-10,27"])

    with pytest.raises(DataError, match="user_id 1691 has living_place, join_time, time_bin") as info:
        load_douban_sample(tmp_path)
    assert info.value.line == 6


def test_wrong_header(tmp_path: Path):
    write_sample(tmp_path, header="user,item,rating,domain,living_place,join_time,time_bin")

    with pytest.raises(DataError, match="expected the header user_id,item_id") as info:
        load_douban_sample(tmp_path)
    assert info.value.line == 1


def test_short_row(tmp_path: Path):
    write_sample(tmp_path, ROWS[:1] + ["1,2,1,book"])

    with pytest.raises(DataError, match="got 4 fields, expected 7") as info:
        load_douban_sample(tmp_path)
    assert info.value.line == 3


def test_missing_folder_via_registry(tmp_path: Path):
    with pytest.raises(DataError, match="douban-sample not found .* cannot be downloaded"):
        load_dataset("douban-sample", tmp_path)
