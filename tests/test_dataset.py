"""Tests for build_dataset and RecDataset (graphrec.data.dataset) on the tiny data."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import AGE_GROUP_OF_USER, CHANNEL_OF_ITEM, INTERACTIONS, USER_AGES, tiny_dataset

from graphrec.data.split import TEST, TRAIN, VALID


def test_ids_are_sorted_raw_ids():
    dataset = tiny_dataset("age-group")

    assert dataset.user_ids.tolist() == [1, 2, 3, 4, 5, 6]
    assert dataset.item_ids.tolist() == list(range(101, 109))
    assert dataset.users.tolist() == [row[0] - 1 for row in INTERACTIONS]
    assert dataset.items.tolist() == [row[1] - 101 for row in INTERACTIONS]


def test_interaction_arrays_follow_rows():
    dataset = tiny_dataset("age-group")

    assert dataset.ratings.tolist() == [row[2] for row in INTERACTIONS]
    assert dataset.timestamps.tolist() == [row[3] for row in INTERACTIONS]
    assert dataset.scenarios.tolist() == [AGE_GROUP_OF_USER[row[0]] for row in INTERACTIONS]


def test_entity_scenarios():
    users = tiny_dataset("age-group")
    items = tiny_dataset("genre-channel")

    assert users.user_scenario.tolist() == [AGE_GROUP_OF_USER[u] for u in range(1, 7)]
    assert users.item_scenario is None
    assert items.item_scenario.tolist() == [CHANNEL_OF_ITEM[i] for i in range(101, 109)]
    assert items.user_scenario is None


def test_random_split_per_user_counts():
    dataset = tiny_dataset("age-group", fixed_split=False, seed=2020)

    # Users with 7 interactions get (5, 1, 1), users with 6 get (4, 1, 1).
    expected = {1: (5, 1, 1), 2: (4, 1, 1), 3: (5, 1, 1), 4: (4, 1, 1), 5: (5, 1, 1), 6: (5, 1, 1)}
    for raw_user, counts in expected.items():
        labels = dataset.splits[dataset.users == raw_user - 1]
        assert (int((labels == TRAIN).sum()), int((labels == VALID).sum()), int((labels == TEST).sum())) == counts


def test_summary_counts():
    dataset = tiny_dataset("age-group")

    assert dataset.summary() == {"users": 6, "items": 8, "interactions": 40, "train": 28, "valid": 6, "test": 6}


def test_interaction_matrix_by_scenario():
    dataset = tiny_dataset("genre-channel")

    test_docs = dataset.interaction_matrix(TEST, scenario=4).toarray()

    # The only documentary-other test interaction is user 2 with item 108.
    expected = np.zeros((6, 8))
    expected[1, 7] = 1.0
    assert np.array_equal(test_docs, expected)


def test_user_scenario_share_genre_channel():
    dataset = tiny_dataset("genre-channel")

    share = dataset.user_scenario_share

    # User 1 trains on 101 (channel 0), 102 (1), 103 (2), 104 (3), 107 (1).
    assert np.allclose(share[0], [0.2, 0.4, 0.2, 0.2, 0.0])
    # User 4 trains on 101 (0), 102 (1), 105 (4), 108 (4).
    assert np.allclose(share[3], [0.25, 0.25, 0.0, 0.0, 0.5])


def test_user_scenario_share_user_level_is_one_hot():
    dataset = tiny_dataset("age-group")

    share = dataset.user_scenario_share

    expected = np.zeros((6, 3))
    for raw_user, group in AGE_GROUP_OF_USER.items():
        expected[raw_user - 1, group] = 1.0
    assert np.array_equal(share, expected)


def test_item_table_rows_follow_item_index():
    dataset = tiny_dataset("age-group")

    assert dataset.item_table["title"].tolist() == [f"Movie {i} (1995)" for i in range(101, 109)]


def test_user_table_rows_follow_user_index():
    dataset = tiny_dataset("age-group")

    assert dataset.user_table["age"].tolist() == [USER_AGES[u] for u in range(1, 7)]


def test_item_table_keeps_item_id_column():
    dataset = tiny_dataset("age-group")

    assert "item_id" in dataset.item_table.columns
    assert dataset.item_table["item_id"].tolist() == list(range(101, 109))


def test_user_table_keeps_user_id_column():
    dataset = tiny_dataset("age-group")

    assert "user_id" in dataset.user_table.columns
    assert dataset.user_table["user_id"].tolist() == [1, 2, 3, 4, 5, 6]
