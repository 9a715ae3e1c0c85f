"""Preprocessing steps on small hand-made tables, with expected rows and reports worked out by hand."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from graphrec.data.preprocess import PreprocessConfig, StepReport, preprocess
from graphrec.data.tables import RawData
from graphrec.errors import ConfigError, DataError


def make_raw(rows: list[tuple], extra: dict | None = None) -> RawData:
    """Build a RawData from (user, item, rating, timestamp) rows, with an item table of items 1..9."""
    interactions = pd.DataFrame(
        {
            "user_id": np.array([row[0] for row in rows], dtype=np.int64),
            "item_id": np.array([row[1] for row in rows], dtype=np.int64),
            "rating": np.array([row[2] for row in rows], dtype=np.float64),
            "timestamp": np.array([row[3] for row in rows], dtype=np.int64),
        }
    )
    for column, values in (extra or {}).items():
        interactions[column] = values
    items = pd.DataFrame({"item_id": np.arange(1, 10, dtype=np.int64), "genres": [()] * 9})
    users = pd.DataFrame({"user_id": np.arange(1, 10, dtype=np.int64)})
    return RawData(name="hand", interactions=interactions, items=items, users=users, genres=[])


def rows_of(raw: RawData) -> list[tuple]:
    frame = raw.interactions
    return list(zip(frame["user_id"], frame["item_id"], frame["rating"], frame["timestamp"]))


# Users 1 and 2 each rated items 1 and 2. User 3 rated items 1 and 3, user 4 only item 4.
# Degrees: users 1, 2, 3 -> 2 and user 4 -> 1. Items 1 -> 3, item 2 -> 2, items 3 and 4 -> 1.
# Round 1 of a 2-core drops user 4 and items 3 and 4, so rows (4, 4) and (3, 3) go.
# User 3 is left with one row, (3, 1), which round 2 drops. Round 3 drops nothing.
K_CORE_ROWS = [
    (1, 1, 4.0, 10),
    (1, 2, 4.0, 11),
    (2, 1, 4.0, 12),
    (2, 2, 4.0, 13),
    (3, 1, 4.0, 14),
    (3, 3, 4.0, 15),
    (4, 4, 4.0, 16),
]

# Repeated (user, item) pairs. Pair (1, 1) has three rows whose latest (timestamp 300)
# is the second row. Pair (2, 2) has two rows with the same timestamp, so the later
# row (rating 3.0) counts as the latest.
DUPLICATE_ROWS = [
    (1, 1, 2.0, 100),
    (1, 1, 4.0, 300),
    (1, 1, 3.0, 200),
    (2, 1, 5.0, 100),
    (2, 2, 1.0, 150),
    (2, 2, 3.0, 150),
]
DUPLICATE_DOMAINS = ["a", "b", "c", "d", "e", "f"]


def test_defaults_change_nothing():
    raw = make_raw(K_CORE_ROWS)
    out, reports = preprocess(raw, PreprocessConfig())
    assert reports == []
    assert rows_of(out) == K_CORE_ROWS
    assert out.interactions is not raw.interactions


def test_k_core_iterates_until_stable():
    raw = make_raw(K_CORE_ROWS)
    out, reports = preprocess(raw, PreprocessConfig(k_core=2))
    assert rows_of(out) == K_CORE_ROWS[:4]
    assert reports == [StepReport("k_core=2", rows_before=7, rows_after=4, users_removed=2, items_removed=2)]


def test_single_pass_minimums_leave_low_degree_user():
    # The user pass drops user 4. The item pass then drops item 3, which leaves
    # user 3 with the single row (3, 1), below the user minimum of 2.
    raw = make_raw(K_CORE_ROWS)
    out, reports = preprocess(raw, PreprocessConfig(min_user_interactions=2, min_item_interactions=2))
    assert rows_of(out) == K_CORE_ROWS[:5]
    assert reports == [
        StepReport("min_user_interactions=2", rows_before=7, rows_after=6, users_removed=1, items_removed=1),
        StepReport("min_item_interactions=2", rows_before=6, rows_after=5, users_removed=0, items_removed=1),
    ]


def test_min_item_interactions_alone():
    raw = make_raw(K_CORE_ROWS)
    out, reports = preprocess(raw, PreprocessConfig(min_item_interactions=3))
    assert rows_of(out) == [(1, 1, 4.0, 10), (2, 1, 4.0, 12), (3, 1, 4.0, 14)]
    assert reports == [
        StepReport("min_item_interactions=3", rows_before=7, rows_after=3, users_removed=1, items_removed=3)
    ]


def test_duplicates_last_keeps_latest_row():
    raw = make_raw(DUPLICATE_ROWS, extra={"domain": DUPLICATE_DOMAINS})
    out, reports = preprocess(raw, PreprocessConfig(duplicates="last"))
    assert rows_of(out) == [(1, 1, 4.0, 300), (2, 1, 5.0, 100), (2, 2, 3.0, 150)]
    assert out.interactions["domain"].tolist() == ["b", "d", "f"]
    assert out.interactions.index.tolist() == [0, 1, 2]
    assert reports == [StepReport("duplicates=last", rows_before=6, rows_after=3, users_removed=0, items_removed=0)]


def test_duplicates_mean_averages_rating():
    # Pair (1, 1): (2 + 4 + 3) / 3 = 3. Pair (2, 2): (1 + 3) / 2 = 2.
    raw = make_raw(DUPLICATE_ROWS, extra={"domain": DUPLICATE_DOMAINS})
    out, _ = preprocess(raw, PreprocessConfig(duplicates="mean"))
    assert rows_of(out) == [(1, 1, 3.0, 300), (2, 1, 5.0, 100), (2, 2, 2.0, 150)]
    assert out.interactions["domain"].tolist() == ["b", "d", "f"]


def test_duplicates_sum_adds_rating():
    raw = make_raw(DUPLICATE_ROWS)
    out, reports = preprocess(raw, PreprocessConfig(duplicates="sum"))
    assert rows_of(out) == [(1, 1, 9.0, 300), (2, 1, 5.0, 100), (2, 2, 4.0, 150)]
    assert reports[0].name == "duplicates=sum"


def test_duplicates_keep_is_no_step():
    raw = make_raw(DUPLICATE_ROWS)
    out, reports = preprocess(raw, PreprocessConfig(duplicates="keep"))
    assert reports == []
    assert rows_of(out) == DUPLICATE_ROWS


def test_threshold_keeps_ratings_at_or_above():
    rows = [(1, 1, 1.0, 1), (1, 2, 3.5, 2), (2, 2, 4.0, 3), (3, 3, 2.0, 4), (3, 4, 5.0, 5)]
    out, reports = preprocess(make_raw(rows), PreprocessConfig(implicit_threshold=3.5))
    assert rows_of(out) == [(1, 2, 3.5, 2), (2, 2, 4.0, 3), (3, 4, 5.0, 5)]
    # Item 1 and item 3 lose their only rows. Every user keeps one row.
    assert reports == [
        StepReport("implicit_threshold>=3.5", rows_before=5, rows_after=3, users_removed=0, items_removed=2)
    ]


def test_time_window_is_half_open():
    rows = [(1, 1, 4.0, 100), (1, 2, 4.0, 200), (2, 2, 4.0, 300), (3, 3, 4.0, 400)]
    out, reports = preprocess(make_raw(rows), PreprocessConfig(time_window=(200, 400)))
    assert rows_of(out) == [(1, 2, 4.0, 200), (2, 2, 4.0, 300)]
    assert reports == [
        StepReport("time_window [200, 400)", rows_before=4, rows_after=2, users_removed=1, items_removed=2)
    ]


def test_time_window_open_bounds():
    rows = [(1, 1, 4.0, 100), (1, 2, 4.0, 200), (2, 2, 4.0, 300)]
    after_start, _ = preprocess(make_raw(rows), PreprocessConfig(time_window=(200, None)))
    before_end, _ = preprocess(make_raw(rows), PreprocessConfig(time_window=(None, 200)))
    assert [row[3] for row in rows_of(after_start)] == [200, 300]
    assert [row[3] for row in rows_of(before_end)] == [100]


def test_steps_run_in_documented_order():
    # Window [100, 400) drops (3, 3, 5.0, 400). Merging keeps (1, 1) at 300 with mean 3.0
    # and (2, 2) at 150 with mean 2.0. The threshold 3 then drops (2, 2), the
    # only row of item 2, so the item minimum of 1 removes nothing more.
    rows = DUPLICATE_ROWS + [(3, 3, 5.0, 400)]
    config = PreprocessConfig(
        time_window=(100, 400), duplicates="mean", implicit_threshold=3.0, min_item_interactions=1, k_core=1
    )
    out, reports = preprocess(make_raw(rows), config)
    assert rows_of(out) == [(1, 1, 3.0, 300), (2, 1, 5.0, 100)]
    assert [report.name for report in reports] == [
        "time_window [100, 400)",
        "duplicates=mean",
        "implicit_threshold>=3",
        "min_item_interactions=1",
        "k_core=1",
    ]
    assert [(report.rows_before, report.rows_after) for report in reports] == [(7, 6), (6, 3), (3, 2), (2, 2), (2, 2)]
    assert [(report.users_removed, report.items_removed) for report in reports] == [
        (1, 1), (0, 0), (0, 1), (0, 0), (0, 0)
    ]


def test_side_tables_and_input_unchanged():
    raw = make_raw(K_CORE_ROWS)
    before = raw.interactions.copy()
    out, _ = preprocess(raw, PreprocessConfig(k_core=2))
    pd.testing.assert_frame_equal(raw.interactions, before)
    assert out.items is raw.items
    assert out.users is raw.users
    assert len(out.items) == 9


def test_every_step_logs_one_line(caplog):
    raw = make_raw(K_CORE_ROWS)
    with caplog.at_level(logging.INFO, logger="graphrec.data.preprocess"):
        preprocess(raw, PreprocessConfig(implicit_threshold=1.0, k_core=2))
    lines = [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]
    assert len(lines) == 2
    assert "implicit_threshold>=1: removed 0 of 7 interactions, 0 users and 0 items" in lines[0]
    assert "k_core=2: removed 3 of 7 interactions, 2 users and 2 items; 4 interactions remain" in lines[1]


@pytest.mark.parametrize(
    "settings",
    [
        {"duplicates": "first"},
        {"k_core": -1},
        {"k_core": 2.5},
        {"min_user_interactions": True},
        {"implicit_threshold": float("nan")},
        {"time_window": (300, 200)},
        {"time_window": (100, 100)},
        {"time_window": (100,)},
        {"time_window": (1.5, 200)},
    ],
)
def test_invalid_config_raises(settings):
    with pytest.raises(ConfigError):
        PreprocessConfig(**settings)


def test_missing_column_raises():
    raw = make_raw(K_CORE_ROWS)
    raw.interactions = raw.interactions.drop(columns=["timestamp"])
    with pytest.raises(DataError, match="needs the interaction column 'timestamp'"):
        preprocess(raw, PreprocessConfig(time_window=(0, 100)))
