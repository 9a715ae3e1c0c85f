"""Tests for the scenario specs (graphrec.data.scenarios) on the in-memory tiny data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import AGE_GROUP_OF_USER, CHANNEL_OF_ITEM, ITEM_GENRES, tiny_raw

from graphrec.data.scenarios import (
    AGE_GROUPS,
    GENRE_CHANNELS,
    assign_scenarios,
    available_scenarios,
    genre_channel_of,
)
from graphrec.errors import ConfigError, DataError


def raw_with_ages(ages: list[int]):
    """Return the tiny data with the users' ages replaced by ``ages`` (users 1..6 in order)."""
    raw = tiny_raw()
    raw.users = raw.users.assign(age=np.array(ages, dtype=np.int64))
    return raw


@pytest.mark.parametrize(
    ("age", "group"),
    [(0, "under-25"), (24, "under-25"), (25, "25-34"), (34, "25-34"), (35, "35-plus"), (90, "35-plus")],
)
def test_age_group_boundaries(age, group):
    raw = raw_with_ages([age] * 6)

    assignment = assign_scenarios("age-group", raw)

    expected = AGE_GROUPS.index(group)
    assert set(assignment.interaction_scenario.tolist()) == {expected}
    assert set(assignment.entity_scenario.tolist()) == {expected}


def test_age_group_per_interaction():
    raw = tiny_raw()

    assignment = assign_scenarios("age-group", raw)

    expected = np.array([AGE_GROUP_OF_USER[u] for u in raw.interactions["user_id"]])
    assert assignment.spec == "age-group"
    assert assignment.level == "user"
    assert assignment.names == ("under-25", "25-34", "35-plus")
    assert assignment.interaction_scenario.shape == (len(raw.interactions),)
    assert np.array_equal(assignment.interaction_scenario, expected)
    assert assignment.entity_scenario.to_dict() == AGE_GROUP_OF_USER


def test_genre_channel_per_interaction():
    raw = tiny_raw()

    assignment = assign_scenarios("genre-channel", raw)

    expected = np.array([CHANNEL_OF_ITEM[i] for i in raw.interactions["item_id"]])
    assert assignment.level == "item"
    assert assignment.names == tuple(GENRE_CHANNELS)
    assert np.array_equal(assignment.interaction_scenario, expected)
    assert assignment.entity_scenario.to_dict() == CHANNEL_OF_ITEM


@pytest.mark.parametrize("spec", ["age-group", "genre-channel"])
def test_one_scenario_id_per_interaction(spec):
    raw = tiny_raw()

    assignment = assign_scenarios(spec, raw)

    ids = assignment.interaction_scenario
    assert ids.ndim == 1
    assert len(ids) == len(raw.interactions)
    assert np.issubdtype(ids.dtype, np.integer)
    assert ids.min() >= 0
    assert ids.max() < len(assignment.names)


# Channel indices: thriller-crime 0, action-adventure 1, family-comedy 2,
# drama-romance 3, documentary-other 4.
GENRE_CASES = [
    # Majority wins.
    (("Action", "Crime", "Thriller"), 0),  # thriller-crime 2 vs action-adventure 1
    (("Comedy", "Drama", "Romance"), 3),  # drama-romance 2 vs family-comedy 1
    (("Children's", "Animation", "Musical", "Action"), 2),  # family-comedy 3 vs action-adventure 1
    (("Sci-Fi", "War", "Horror"), 1),  # action-adventure 2 vs thriller-crime 1
    # Ties go to the channel listed first.
    (("Comedy", "Crime"), 0),
    (("Drama", "Comedy"), 2),
    (("Drama", "Action"), 1),
    (("Romance", "Documentary"), 3),
    (("Film-Noir", "Western", "Musical", "Drama"), 0),  # four-way tie of 1 each
    # Single genres.
    (("Documentary",), 4),
    (("unknown",), 4),
    (("Mystery",), 0),
    (("Fantasy",), 1),
    # No genre at all.
    ((), 4),
]


@pytest.mark.parametrize(("genres", "channel"), GENRE_CASES)
def test_genre_channel_rule(genres, channel):
    assert genre_channel_of(genres) == channel


def test_genre_channel_accepts_list():
    assert genre_channel_of(["Drama", "Romance", "Crime"]) == 3


def test_genre_channel_tiny_items_by_hand():
    for item, genres in ITEM_GENRES.items():
        assert genre_channel_of(genres) == CHANNEL_OF_ITEM[item], f"item {item} {genres}"


def test_genre_channel_unknown_genre():
    raw = tiny_raw()
    raw.items.at[0, "genres"] = ("Crime", "Noir-Western")

    with pytest.raises(DataError, match="Noir-Western"):
        assign_scenarios("genre-channel", raw)


def test_unknown_spec_lists_valid_names():
    with pytest.raises(ConfigError) as error:
        assign_scenarios("age-groups", tiny_raw())

    message = str(error.value)
    assert "'age-groups'" in message
    for name in available_scenarios():
        assert name in message


def test_available_scenarios_has_builtin_specs():
    names = available_scenarios()

    assert "age-group" in names
    assert "genre-channel" in names


def test_age_group_without_users_table():
    raw = tiny_raw(with_users=False)

    with pytest.raises(DataError, match="age"):
        assign_scenarios("age-group", raw)


def test_age_group_without_age_column():
    raw = tiny_raw()
    raw.users = raw.users.drop(columns=["age"])

    with pytest.raises(DataError, match="age"):
        assign_scenarios("age-group", raw)


def test_age_group_user_missing_from_table():
    raw = tiny_raw()
    raw.users = raw.users[raw.users["user_id"] != 4].reset_index(drop=True)

    with pytest.raises(DataError, match="user_id 4"):
        assign_scenarios("age-group", raw)


def test_genre_channel_item_missing_from_table():
    raw = tiny_raw()
    raw.items = raw.items[raw.items["item_id"] != 105].reset_index(drop=True)

    with pytest.raises(DataError, match="item_id 105"):
        assign_scenarios("genre-channel", raw)


def test_age_group_ignores_users_without_interactions():
    raw = tiny_raw()
    extra = pd.DataFrame({"user_id": [99], "age": [40], "gender": ["F"]})
    raw.users = pd.concat([raw.users, extra], ignore_index=True)

    assignment = assign_scenarios("age-group", raw)

    expected = np.array([AGE_GROUP_OF_USER[u] for u in raw.interactions["user_id"]])
    assert np.array_equal(assignment.interaction_scenario, expected)


def test_genre_channel_later_release_names():
    from graphrec.data.scenarios import GENRE_CHANNELS, genre_channel_of

    names = list(GENRE_CHANNELS)
    assert names[genre_channel_of(("Children", "Comedy"))] == "family-comedy"
    assert names[genre_channel_of(("IMAX",))] == "documentary-other"
    # IMAX loses the tie to the movie's real genre.
    assert names[genre_channel_of(("Action", "IMAX"))] == "action-adventure"
