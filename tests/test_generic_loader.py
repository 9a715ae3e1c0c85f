"""Tests for load_table, the CSV and Parquet loader with a column mapping."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from graphrec.data.generic import load_table
from graphrec.errors import ConfigError, DataError

MAPPING = {"uid": "user", "iid": "item", "score": "rating", "ts": "timestamp", "channel": "scenario"}
CSV_TEXT = (
    "uid,iid,score,ts,channel,ignored\n"
    "u1,i1,4.5,1600000000,home,x\n"
    "u1,i2,3,1600000100,search,x\n"
    "007,i1,1,1600000200,home,x\n"
)

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_all_roles(tmp_path: Path):
    data = load_table(write_text(tmp_path / "clicks.csv", CSV_TEXT), MAPPING)

    assert data.name == "clicks"
    assert list(data.interactions.columns) == ["user_id", "item_id", "rating", "timestamp", "scenario"]
    assert data.interactions["user_id"].tolist() == ["u1", "u1", "007"]
    assert data.interactions["rating"].tolist() == [4.5, 3.0, 1.0]
    assert data.interactions["timestamp"].tolist() == [1_600_000_000, 1_600_000_100, 1_600_000_200]
    assert str(data.interactions["timestamp"].dtype) == "int64"
    assert data.interactions["scenario"].tolist() == ["home", "search", "home"]


def test_csv_items_and_users(tmp_path: Path):
    data = load_table(write_text(tmp_path / "clicks.csv", CSV_TEXT), MAPPING, name="clicks-v2")

    assert data.name == "clicks-v2"
    assert data.items["item_id"].tolist() == ["i1", "i2"]
    assert data.items["genres"].tolist() == [(), ()]
    assert data.items["year"].isna().all()
    assert data.users is None
    assert data.source_files == [tmp_path / "clicks.csv"]


def test_optional_roles_default(tmp_path: Path):
    data = load_table(write_text(tmp_path / "clicks.csv", CSV_TEXT), {"uid": "user", "iid": "item"})

    assert data.interactions["rating"].tolist() == [1.0, 1.0, 1.0]
    assert data.interactions["timestamp"].tolist() == [0, 0, 0]
    assert "scenario" not in data.interactions.columns


def test_tsv_separator_from_suffix(tmp_path: Path):
    path = write_text(tmp_path / "clicks.tsv", CSV_TEXT.replace(",", "\t"))

    assert len(load_table(path, MAPPING).interactions) == 3


def test_explicit_separator(tmp_path: Path):
    path = write_text(tmp_path / "clicks.txt", CSV_TEXT.replace(",", ";"))

    assert load_table(path, MAPPING, sep=";").interactions["item_id"].tolist() == ["i1", "i2", "i1"]


def test_gzip_csv(tmp_path: Path):
    path = tmp_path / "clicks.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(CSV_TEXT)

    data = load_table(path, MAPPING)

    assert data.name == "clicks"
    assert len(data.interactions) == 3


def test_float_timestamps_whole(tmp_path: Path):
    path = write_text(tmp_path / "t.csv", "uid,iid,ts\nu1,i1,1600000000.0\nu2,i1,1e9\n")

    data = load_table(path, {"uid": "user", "iid": "item", "ts": "timestamp"})

    assert data.interactions["timestamp"].tolist() == [1_600_000_000, 1_000_000_000]


def test_fractional_timestamp_line(tmp_path: Path):
    path = write_text(tmp_path / "t.csv", "uid,iid,ts\nu1,i1,10\nu2,i1,10.5\n")

    with pytest.raises(DataError, match="invalid ts '10.5', expected a whole number") as info:
        load_table(path, {"uid": "user", "iid": "item", "ts": "timestamp"})
    assert info.value.line == 3


def test_bad_rating_line(tmp_path: Path):
    path = write_text(tmp_path / "t.csv", "uid,iid,score\nu1,i1,4\nu2,i1,\nu3,i1,x\n")

    with pytest.raises(DataError, match="invalid score '', expected a finite number") as info:
        load_table(path, {"uid": "user", "iid": "item", "score": "rating"})
    assert info.value.line == 3


def test_empty_id_line(tmp_path: Path):
    path = write_text(tmp_path / "t.csv", "uid,iid\nu1,i1\n,i2\n")

    with pytest.raises(DataError, match="empty uid") as info:
        load_table(path, {"uid": "user", "iid": "item"})
    assert info.value.line == 3


def test_blank_line_rejected(tmp_path: Path):
    path = write_text(tmp_path / "t.csv", "uid,iid\nu1,i1\n\nu2,i2\n")

    with pytest.raises(DataError, match="empty uid") as info:
        load_table(path, {"uid": "user", "iid": "item"})
    assert info.value.line == 3


def test_missing_column_lists_available(tmp_path: Path):
    path = write_text(tmp_path / "t.csv", "user,item\nu1,i1\n")

    with pytest.raises(DataError, match=r"columns \['uid'\] not found. The file has the columns \['user', 'item'\]"):
        load_table(path, {"uid": "user", "item": "item"})


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"uid": "user", "iid": "itm"}, "column 'iid' has the unknown role 'itm'"),
        ({"uid": "user", "iid": "item", "other": "item"}, "columns 'iid' and 'other' both have the role 'item'"),
        ({"iid": "item"}, "the column mapping has no 'user' column"),
    ],
)
def test_bad_mapping(tmp_path: Path, mapping: dict[str, str], message: str):
    path = write_text(tmp_path / "t.csv", "uid,iid,other\nu1,i1,i2\n")

    with pytest.raises(ConfigError, match=message):
        load_table(path, mapping)


def test_missing_file(tmp_path: Path):
    with pytest.raises(DataError, match="interaction table not found"):
        load_table(tmp_path / "absent.csv", {"uid": "user", "iid": "item"})


@pytest.mark.skipif(HAS_PYARROW, reason="pyarrow is installed, so Parquet can be read")
def test_parquet_without_pyarrow(tmp_path: Path):
    path = tmp_path / "clicks.parquet"
    path.write_bytes(b"PAR1")

    with pytest.raises(DataError, match="pip install pyarrow"):
        load_table(path, {"uid": "user", "iid": "item"})


@pytest.mark.skipif(not HAS_PYARROW, reason="needs pyarrow to write and read Parquet")
def test_parquet_round_trip(tmp_path: Path):
    path = tmp_path / "clicks.parquet"
    pd.DataFrame({"uid": [1, 2], "iid": [10, 10], "ts": [5, 6], "channel": ["a", "b"]}).to_parquet(path)

    data = load_table(path, {"uid": "user", "iid": "item", "ts": "timestamp", "channel": "scenario"})

    assert data.interactions["user_id"].tolist() == ["1", "2"]
    assert data.interactions["timestamp"].tolist() == [5, 6]
    assert data.interactions["scenario"].tolist() == ["a", "b"]
