"""Time, column and learned scenario specs, the parameterised spec names and describe_scenarios."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import real_data_root
from helpers import tiny_raw

from graphrec.data.scenarios import (
    DAYPARTS,
    PARAMETERISED_SCENARIO_FORMS,
    assign_scenarios,
    available_scenarios,
    column_spec,
    describe_scenarios,
    interaction_context_features,
    learned_spec,
    make_daypart_spec,
    make_weekday_weekend_spec,
    resolve_scenario_spec,
)
from graphrec.data.tables import RawData
from graphrec.errors import ConfigError, DataError

HOUR = 3600
DAY = 86400


def make_raw(users, items, timestamps, extra: dict | None = None, genres_of_item: dict | None = None) -> RawData:
    """Build a RawData from aligned columns. Every item gets a row in the item table."""
    interactions = pd.DataFrame(
        {
            "user_id": np.asarray(users, dtype=np.int64),
            "item_id": np.asarray(items, dtype=np.int64),
            "rating": np.ones(len(users), dtype=np.float64),
            "timestamp": np.asarray(timestamps, dtype=np.int64),
        }
    )
    for column, values in (extra or {}).items():
        interactions[column] = values
    item_ids = sorted(set(int(item) for item in items))
    genres_of_item = genres_of_item or {}
    items_table = pd.DataFrame(
        {"item_id": np.array(item_ids, dtype=np.int64), "genres": [genres_of_item.get(item, ()) for item in item_ids]}
    )
    genres = sorted({genre for genres in genres_of_item.values() for genre in genres})
    return RawData(name="hand", interactions=interactions, items=items_table, users=None, genres=genres)


def raw_at(timestamps) -> RawData:
    count = len(timestamps)
    return make_raw(range(count), range(count), timestamps)


# Unix time 0 is Thursday 1970-01-01 00:00 UTC. Each row: timestamp, daypart, week part.
UTC_TIMES = [
    (0, "night", "weekday"),
    (6 * HOUR - 1, "night", "weekday"),
    (6 * HOUR, "morning", "weekday"),
    (12 * HOUR - 1, "morning", "weekday"),
    (12 * HOUR, "afternoon", "weekday"),
    (18 * HOUR, "evening", "weekday"),
    (DAY - 1, "evening", "weekday"),
    (DAY + 23 * HOUR, "evening", "weekday"),  # Friday 23:00
    (2 * DAY, "night", "weekend"),  # Saturday 00:00
    (3 * DAY + 13 * HOUR, "afternoon", "weekend"),  # Sunday 13:00
    (4 * DAY - 1, "evening", "weekend"),  # Sunday 23:59:59
    (4 * DAY, "night", "weekday"),  # Monday 00:00
]


def names_of(assignment) -> list[str]:
    return [assignment.names[index] for index in assignment.interaction_scenario]


def test_daypart_utc():
    raw = raw_at([row[0] for row in UTC_TIMES])
    assignment = assign_scenarios("daypart", raw)
    assert assignment.spec == "daypart"
    assert assignment.level == "interaction"
    assert assignment.names == ("night", "morning", "afternoon", "evening")
    assert assignment.entity_scenario is None
    assert names_of(assignment) == [row[1] for row in UTC_TIMES]


def test_weekday_weekend_utc():
    raw = raw_at([row[0] for row in UTC_TIMES])
    assignment = assign_scenarios("weekday-weekend", raw)
    assert assignment.spec == "weekday-weekend"
    assert assignment.level == "interaction"
    assert assignment.names == ("weekday", "weekend")
    assert names_of(assignment) == [row[2] for row in UTC_TIMES]


def test_time_specs_registered():
    for name in ("daypart", "weekday-weekend", "learned", "age-group", "genre-channel"):
        assert name in available_scenarios()


def test_daypart_other_time_zone():
    # Tokyo is UTC+9 all year, so Unix time 0 is 09:00 there.
    # Berlin is UTC+1 in January and UTC+2 in July (daylight saving time):
    # 2021-01-01 04:30 UTC is 05:30 in Berlin and 2021-07-01 04:30 UTC is 06:30.
    january, july = 1609475400, 1625113800
    tokyo = make_daypart_spec("Asia/Tokyo")(raw_at([0]))
    assert tokyo.spec == "daypart:Asia/Tokyo"
    assert names_of(tokyo) == ["morning"]

    berlin = assign_scenarios("daypart:Europe/Berlin", raw_at([january, july]))
    assert berlin.spec == "daypart:Europe/Berlin"
    assert names_of(berlin) == ["night", "morning"]
    assert names_of(assign_scenarios("daypart", raw_at([january, july]))) == ["night", "night"]


def test_weekday_weekend_other_time_zone():
    # Friday 1970-01-02 15:00 UTC is Saturday 00:00 in Tokyo.
    raw = raw_at([DAY + 15 * HOUR])
    assert names_of(assign_scenarios("weekday-weekend", raw)) == ["weekday"]
    tokyo = make_weekday_weekend_spec("Asia/Tokyo")(raw)
    assert tokyo.spec == "weekday-weekend:Asia/Tokyo"
    assert names_of(tokyo) == ["weekend"]


def test_unknown_time_zone_raises():
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Base'"):
        make_daypart_spec("Mars/Base")
    with pytest.raises(ConfigError, match="unknown time zone"):
        assign_scenarios("weekday-weekend:Mars/Base", raw_at([0]))


def test_time_spec_without_timestamp_raises():
    raw = raw_at([0, 1])
    raw.interactions = raw.interactions.drop(columns=["timestamp"])
    with pytest.raises(DataError, match="needs a timestamp column"):
        assign_scenarios("daypart", raw)


# Column specs. In COLUMN_ROWS, "shelf" is constant per item (and not per user),
# "region" is constant per user (and not per item) and "device" is neither.
COLUMN_ROWS = {
    "users": [1, 1, 2, 2, 3],
    "items": [10, 20, 10, 30, 30],
    "shelf": ["b", "a", "b", "c", "c"],
    "region": ["north", "north", "south", "south", "north"],
    "device": ["tv", "phone", "phone", "tv", "tv"],
}


def column_raw() -> RawData:
    extra = {name: COLUMN_ROWS[name] for name in ("shelf", "region", "device")}
    return make_raw(COLUMN_ROWS["users"], COLUMN_ROWS["items"], [0] * 5, extra=extra)


def test_column_spec_item_level():
    assignment = assign_scenarios("column:shelf", column_raw())
    assert assignment.spec == "column:shelf"
    assert assignment.level == "item"
    assert assignment.names == ("a", "b", "c")
    assert assignment.interaction_scenario.tolist() == [1, 0, 1, 2, 2]
    assert assignment.entity_scenario.to_dict() == {10: 1, 20: 0, 30: 2}


def test_column_spec_user_level():
    assignment = column_spec("region")(column_raw())
    assert assignment.level == "user"
    assert assignment.names == ("north", "south")
    assert assignment.interaction_scenario.tolist() == [0, 0, 1, 1, 0]
    assert assignment.entity_scenario.to_dict() == {1: 0, 2: 1, 3: 0}


def test_column_spec_interaction_level():
    assignment = column_spec("device")(column_raw())
    assert assignment.level == "interaction"
    assert assignment.names == ("phone", "tv")
    assert assignment.interaction_scenario.tolist() == [1, 0, 0, 1, 1]
    assert assignment.entity_scenario is None


def test_column_spec_prefers_item_level():
    # One user per item and one item per user, so the column is constant for both.
    raw = make_raw([1, 2], [10, 20], [0, 0], extra={"shop": ["x", "y"]})
    assert column_spec("shop")(raw).level == "item"


def test_column_spec_sorts_numbers_numerically():
    raw = make_raw([1, 2, 3], [10, 10, 10], [0, 0, 0], extra={"bin": [10, 9, 10]})
    assignment = column_spec("bin")(raw)
    assert assignment.names == ("9", "10")
    assert assignment.interaction_scenario.tolist() == [1, 0, 1]


def test_column_spec_errors():
    raw = column_raw()
    with pytest.raises(DataError, match="has no interaction column 'domain'; columns: user_id, item_id"):
        assign_scenarios("column:domain", raw)

    raw.interactions.loc[3, "device"] = None
    with pytest.raises(DataError, match="missing value in interaction row 3"):
        assign_scenarios("column:device", raw)

    with pytest.raises(ConfigError, match="empty parameter"):
        assign_scenarios("column:", raw)


@pytest.mark.real_data
def test_column_spec_on_douban_domains():
    root = real_data_root("douban-multidomain-sample")
    table = pd.read_csv(root / "douban-multidomain-sample" / "douban_sample.csv")
    interactions = pd.DataFrame(
        {
            "user_id": table["user_id"].astype(np.int64),
            "item_id": table["item_id"].astype(np.int64),
            "rating": table["rating"].astype(np.float64),
            "timestamp": np.zeros(len(table), dtype=np.int64),
            "domain": table["domain"],
        }
    )
    items = pd.DataFrame({"item_id": np.sort(table["item_id"].unique())})
    raw = RawData(name="douban-sample", interactions=interactions, items=items, users=None, genres=[])

    assignment = assign_scenarios("column:domain", raw)
    assert assignment.names == ("book", "movie", "music")
    # Every item of the sample belongs to one domain.
    assert assignment.level == "item"
    assert np.bincount(assignment.interaction_scenario).tolist() == [364, 2299, 337]

    described = describe_scenarios(assignment, raw)
    assert [row["interactions"] for row in described["scenarios"]] == [364, 2299, 337]
    users_per_domain = table.groupby("domain")["user_id"].nunique()
    items_per_domain = table.groupby("domain")["item_id"].nunique()
    domains = ["book", "movie", "music"]
    assert [row["users"] for row in described["scenarios"]] == users_per_domain.loc[domains].tolist()
    assert [row["items"] for row in described["scenarios"]] == items_per_domain.loc[domains].tolist()
    assert sum(row["items"] for row in described["scenarios"]) == 2502
    # No item is in two domains, so the item overlap is diagonal.
    item_overlap = np.array(described["item_overlap"])
    assert (item_overlap == np.diag(np.diag(item_overlap))).all()


def test_describe_scenarios_hand_example():
    # Scenario 0 has (1, 10) and (3, 30). Scenario 1 has (1, 20) and (2, 20).
    # User 1 is in both scenarios. No item is in both.
    raw = make_raw([1, 1, 2, 3], [10, 20, 20, 30], [0] * 4, extra={"scenario": ["s0", "s1", "s1", "s0"]})
    described = describe_scenarios(assign_scenarios("column:scenario", raw), raw)
    assert described["spec"] == "column:scenario"
    assert described["level"] == "item"
    assert described["names"] == ["s0", "s1"]
    assert described["scenarios"] == [
        {"name": "s0", "interactions": 2, "users": 2, "items": 2},
        {"name": "s1", "interactions": 2, "users": 2, "items": 1},
    ]
    assert described["user_overlap"] == [[2, 1], [1, 2]]
    assert described["item_overlap"] == [[2, 0], [0, 1]]


def test_describe_scenarios_counts_empty_scenario():
    raw = raw_at([0, HOUR, 13 * HOUR])
    described = describe_scenarios(assign_scenarios("daypart", raw), raw)
    assert [row["interactions"] for row in described["scenarios"]] == [2, 0, 1, 0]
    assert described["user_overlap"][1] == [0, 0, 0, 0]


def test_describe_scenarios_rejects_other_dataset():
    assignment = assign_scenarios("daypart", raw_at([0, 1]))
    with pytest.raises(DataError, match="has 2 entries but dataset 'hand' has 3 interactions"):
        describe_scenarios(assignment, raw_at([0, 1, 2]))


def test_context_features_hand_values():
    # User 1 at Thursday 00:00, then 10 s later twice (a zero gap), user 2 at Saturday 06:00.
    raw = make_raw(
        [1, 1, 1, 2],
        [10, 20, 10, 20],
        [0, 10, 10, 2 * DAY + 6 * HOUR],
        genres_of_item={10: ("Drama",), 20: ("Comedy", "Drama")},
    )
    features = interaction_context_features(raw)
    assert list(features.columns) == [
        "hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "genre:Comedy", "genre:Drama", "log_gap"
    ]
    thursday, saturday = 2 * math.pi * 3 / 7, 2 * math.pi * 5 / 7
    np.testing.assert_allclose(features["hour_sin"], [0, 0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(features["hour_cos"], [1, 1, 1, 0], atol=1e-12)
    np.testing.assert_allclose(features["weekday_sin"], [math.sin(thursday)] * 3 + [math.sin(saturday)])
    np.testing.assert_allclose(features["weekday_cos"], [math.cos(thursday)] * 3 + [math.cos(saturday)])
    assert features["genre:Comedy"].tolist() == [0, 1, 0, 1]
    assert features["genre:Drama"].tolist() == [1, 1, 1, 1]
    np.testing.assert_allclose(features["log_gap"], [0, math.log(11), 0, 0])


def test_context_features_gap_follows_time_not_rows():
    # The rows of user 1 are out of time order: 100, 0, 40.
    raw = make_raw([1, 1, 1], [10, 10, 10], [100, 0, 40])
    np.testing.assert_allclose(interaction_context_features(raw)["log_gap"], [math.log(61), 0, math.log(41)])


def planted_hours_raw() -> tuple[RawData, np.ndarray]:
    """Build 60 interactions near 03:00 UTC and 40 near 15:00 UTC, with random days and genres.

    Returns the data and the planted group of each interaction (0 for 03:00, 1 for 15:00).
    """
    rng = np.random.default_rng(5)
    group = np.array([0] * 60 + [1] * 40)
    rng.shuffle(group)
    hour = np.where(group == 0, 3, 15) + rng.integers(-1, 2, size=100)
    day = rng.integers(0, 2, size=100)
    # One interaction per user, so every gap is 0.
    timestamps = day * DAY + hour * HOUR + rng.integers(0, HOUR, size=100)
    items = rng.integers(1, 4, size=100)
    genres = {1: ("Drama",), 2: ("Comedy",), 3: ("Drama", "Comedy")}
    return make_raw(np.arange(100), items, timestamps, genres_of_item=genres), group


def test_learned_recovers_planted_hours():
    raw, group = planted_hours_raw()
    assignment = learned_spec(n_clusters=2, seed=0)(raw)
    assert assignment.spec == "learned:2"
    assert assignment.names == ("cluster-0", "cluster-1")
    # Clusters are numbered by size, so the 60 interactions near 03:00 form cluster-0.
    assert assignment.interaction_scenario.tolist() == group.tolist()


def test_learned_is_deterministic():
    raw = tiny_raw()
    first = assign_scenarios("learned", raw)
    second = assign_scenarios("learned", raw)
    np.testing.assert_array_equal(first.interaction_scenario, second.interaction_scenario)


def test_learned_gives_each_interaction_one_id():
    raw = tiny_raw()
    assignment = assign_scenarios("learned", raw)
    assert assignment.spec == "learned"
    assert assignment.level == "interaction"
    assert assignment.entity_scenario is None
    assert assignment.names == ("cluster-0", "cluster-1", "cluster-2", "cluster-3")
    assert assignment.interaction_scenario.shape == (len(raw.interactions),)
    assert set(assignment.interaction_scenario.tolist()) <= {0, 1, 2, 3}
    sizes = np.bincount(assignment.interaction_scenario, minlength=4)
    assert sizes.sum() == 40
    assert (np.diff(sizes) <= 0).all()


def test_learned_prefix_forms():
    raw = tiny_raw()
    six = assign_scenarios("learned:6", raw)
    assert six.spec == "learned:6"
    assert six.names == tuple(f"cluster-{index}" for index in range(6))
    seeded = assign_scenarios("learned:3:7", raw)
    assert seeded.spec == "learned:3:7"
    np.testing.assert_array_equal(seeded.interaction_scenario, learned_spec(3, seed=7)(raw).interaction_scenario)


@pytest.mark.parametrize(
    "name", ["learned:x", "learned:0", "learned:-2", "learned:2:1:1", "learned:2:", "learned:2:4294967296"]
)
def test_learned_invalid_names(name):
    with pytest.raises(ConfigError):
        resolve_scenario_spec(name)


def test_learned_needs_enough_interactions():
    with pytest.raises(DataError, match="needs at least 4 interactions, but dataset 'hand' has 3"):
        assign_scenarios("learned", raw_at([0, 1, 2]))


def test_unknown_spec_lists_forms():
    with pytest.raises(ConfigError) as error:
        assign_scenarios("domain", tiny_raw())
    message = str(error.value)
    assert "unknown scenario spec 'domain'" in message
    assert "age-group" in message
    assert "column:<column>" in message
    for form in PARAMETERISED_SCENARIO_FORMS:
        assert form in message


def test_resolve_checks_without_data():
    assert callable(resolve_scenario_spec("column:anything"))
    assert resolve_scenario_spec("daypart") is resolve_scenario_spec("daypart")
    with pytest.raises(ConfigError):
        resolve_scenario_spec("age-group:2")


def test_registered_names_still_resolve():
    raw = tiny_raw()
    age = assign_scenarios("age-group", raw)
    assert age.level == "user"
    assert DAYPARTS == assign_scenarios("daypart", raw).names
