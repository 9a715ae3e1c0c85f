"""dataset_stats, stats_markdown and save_degree_plot on hand-made data and on real ml-100k."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import real_data_root

from graphrec.data.movielens import load_ml100k
from graphrec.data.scenarios import assign_scenarios
from graphrec.data.stats import dataset_stats, save_degree_plot, stats_markdown
from graphrec.data.tables import RawData
from graphrec.errors import DataError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def hand_raw() -> RawData:
    """Build 5 interactions of users 1, 2, 3 on items 10, 20, with items 10, 20, 30 in the item table.

    User 1 rates both items, user 2 rates item 10 twice and user 3 rates item 20.
    Ratings: 1.0 once, 3.0 twice, 4.5 twice.
    """
    interactions = pd.DataFrame(
        {
            "user_id": np.array([1, 1, 2, 2, 3], dtype=np.int64),
            "item_id": np.array([10, 20, 10, 10, 20], dtype=np.int64),
            "rating": np.array([3.0, 4.5, 1.0, 3.0, 4.5]),
            "timestamp": np.arange(5, dtype=np.int64),
            "shelf": ["a", "b", "a", "a", "b"],
        }
    )
    items = pd.DataFrame({"item_id": np.array([10, 20, 30], dtype=np.int64), "genres": [(), (), ()]})
    return RawData(name="hand", interactions=interactions, items=items, users=None, genres=[])


def test_stats_hand_counts():
    stats = dataset_stats(hand_raw())
    assert stats["name"] == "hand"
    assert stats["users"] == 3
    assert stats["items"] == 2
    assert stats["items_in_table"] == 3
    assert stats["users_in_table"] is None
    assert stats["interactions"] == 5
    assert stats["density"] == pytest.approx(5 / 6)
    assert stats["rating_histogram"] == {1.0: 1, 3.0: 2, 4.5: 2}
    assert list(stats["rating_histogram"]) == [1.0, 3.0, 4.5]
    assert "scenarios" not in stats


def test_stats_with_assignment():
    raw = hand_raw()
    stats = dataset_stats(raw, assign_scenarios("column:shelf", raw))
    scenarios = stats["scenarios"]
    assert scenarios["spec"] == "column:shelf"
    assert scenarios["scenarios"] == [
        {"name": "a", "interactions": 3, "users": 2, "items": 1},
        {"name": "b", "interactions": 2, "users": 2, "items": 1},
    ]
    # User 1 is in both shelves.
    assert scenarios["user_overlap"] == [[2, 1], [1, 2]]


def test_stats_empty_interactions():
    raw = hand_raw()
    raw.interactions = raw.interactions.iloc[:0]
    stats = dataset_stats(raw)
    assert stats["interactions"] == 0
    assert stats["density"] == 0.0
    assert stats["rating_histogram"] == {}


def test_markdown_lists_counts():
    raw = hand_raw()
    text = stats_markdown(dataset_stats(raw, assign_scenarios("column:shelf", raw)))
    assert text.startswith("## Dataset hand\n")
    assert "| users with interactions | 3 |" in text
    assert "| items in the item table | 3 |" in text
    assert "| users in the user table | none |" in text
    assert "| density | 0.833333 |" in text
    assert "| 4.5 | 2 |" in text
    assert "Scenario spec `column:shelf` (item level):" in text
    assert "| a | 3 | 2 | 1 |" in text
    assert text.endswith("\n")


def test_degree_plot_writes_png(tmp_path):
    path = tmp_path / "plots" / "degrees.png"
    save_degree_plot(hand_raw(), path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert [entry.name for entry in path.parent.iterdir()] == ["degrees.png"]


def test_degree_plot_replaces_file(tmp_path):
    path = tmp_path / "degrees.png"
    path.write_bytes(b"old")
    save_degree_plot(hand_raw(), path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_degree_plot_empty_raises(tmp_path):
    raw = hand_raw()
    raw.interactions = raw.interactions.iloc[:0]
    with pytest.raises(DataError, match="has no interactions"):
        save_degree_plot(raw, tmp_path / "degrees.png")
    assert not (tmp_path / "degrees.png").exists()


@pytest.mark.real_data
def test_stats_on_ml100k(tmp_path):
    raw = load_ml100k(real_data_root("ml-100k") / "ml-100k")
    stats = dataset_stats(raw, assign_scenarios("age-group", raw))
    assert stats["interactions"] == 100_000
    assert stats["users"] == 943
    assert stats["items"] == 1_682
    assert stats["items_in_table"] == 1_682
    assert stats["users_in_table"] == 943
    assert stats["density"] == pytest.approx(100_000 / (943 * 1_682))
    # Counts of each rating value in u.data, as `cut -f3 u.data | sort | uniq -c` prints them.
    assert stats["rating_histogram"] == {1.0: 6_110, 2.0: 11_370, 3.0: 27_145, 4.0: 34_174, 5.0: 21_201}
    assert sum(stats["rating_histogram"].values()) == 100_000

    per_scenario = stats["scenarios"]["scenarios"]
    assert sum(row["interactions"] for row in per_scenario) == 100_000
    assert sum(row["users"] for row in per_scenario) == 943

    path = tmp_path / "ml100k-degrees.png"
    save_degree_plot(raw, path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
