"""Tests for the training heterograph (graphrec.graph.build) and its summaries (graphrec.graph.stats)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from conftest import real_data_root
from helpers import AGE_GROUP_OF_USER, CHANNEL_OF_ITEM, INTERACTIONS, tiny_raw

from graphrec.data.dataset import build_dataset
from graphrec.data.movielens import load_movielens
from graphrec.data.scenarios import assign_scenarios
from graphrec.data.split import TRAIN
from graphrec.graph.build import build_graph
from graphrec.graph.stats import scenario_overlap

SEED = 2020

# build_dataset sorts the raw ids, so raw users 1..6 are indices 0..5 and raw items 101..108 are 0..7.
USER_INDEX = {raw: raw - 1 for raw in range(1, 7)}
ITEM_INDEX = {raw: raw - 101 for raw in range(101, 109)}


def build(spec: str):
    raw = tiny_raw()
    dataset = build_dataset(raw, assign_scenarios(spec, raw), (0.8, 0.1, 0.1), SEED)
    return dataset, build_graph(dataset)


def edge_pairs(graph, etype: str) -> list[tuple[int, int]]:
    src, dst = graph.edges(etype=etype)
    return list(zip(src.tolist(), dst.tolist()))


def rows_by_split(dataset) -> dict[str, list[tuple]]:
    """Group the INTERACTIONS rows (as index pairs plus data) by the dataset's split labels."""
    groups = {"train": [], "held_out": []}
    for row, label in zip(INTERACTIONS, dataset.splits.tolist()):
        user, item, rating, timestamp, _ = row
        entry = (USER_INDEX[user], ITEM_INDEX[item], rating, timestamp, user, item)
        groups["train" if label == TRAIN else "held_out"].append(entry)
    return groups


def test_node_counts():
    _, graph = build("age-group")

    assert graph.num_nodes("user") == 6
    assert graph.num_nodes("item") == 8
    assert graph.num_nodes("scenario") == 3


def test_interacts_edges_are_train_pairs():
    dataset, graph = build("age-group")
    groups = rows_by_split(dataset)

    expected = sorted((u, i) for u, i, *_ in groups["train"])
    held_out = {(u, i) for u, i, *_ in groups["held_out"]}
    edges = edge_pairs(graph, "interacts")

    # Users with 7 interactions keep 5 for training and users with 6 keep 4: 5+4+5+4+5+5 = 28.
    assert len(edges) == 28
    assert sorted(edges) == expected
    assert held_out.isdisjoint(edges)


def test_reverse_edges_mirror_interacts():
    _, graph = build("age-group")

    forward = edge_pairs(graph, "interacts")
    backward = edge_pairs(graph, "interacted_by")

    assert backward == [(i, u) for u, i in forward]


@pytest.mark.parametrize("etype", ["interacts", "interacted_by"])
def test_interaction_edge_data(etype):
    dataset, graph = build("age-group")
    by_pair = {(u, i): (rating, ts, raw_user) for u, i, rating, ts, raw_user, _ in rows_by_split(dataset)["train"]}

    edges = edge_pairs(graph, "interacts")
    data = graph.edges[etype].data
    for index, pair in enumerate(edges):
        rating, timestamp, raw_user = by_pair[pair]
        assert int(data["scenario"][index]) == AGE_GROUP_OF_USER[raw_user], f"edge {pair}"
        assert float(data["weight"][index]) == rating, f"edge {pair}"
        assert int(data["timestamp"][index]) == timestamp, f"edge {pair}"


def test_active_in_weights_age_group():
    _, graph = build("age-group")

    weights = dict(zip(edge_pairs(graph, "active_in"), graph.edges["active_in"].data["weight"].tolist()))

    # Each user is active in one age group only. The weight is the number of
    # training interactions, which the ratio split fixes at 5 for the users with
    # 7 interactions (1, 3, 5, 6) and 4 for the users with 6 (2, 4).
    expected = {
        (USER_INDEX[1], 0): 5.0,
        (USER_INDEX[2], 1): 4.0,
        (USER_INDEX[3], 1): 5.0,
        (USER_INDEX[4], 2): 4.0,
        (USER_INDEX[5], 0): 5.0,
        (USER_INDEX[6], 2): 5.0,
    }
    assert weights == expected


def test_includes_user_mirrors_active_in():
    _, graph = build("age-group")

    forward = edge_pairs(graph, "active_in")
    backward = edge_pairs(graph, "includes_user")

    assert backward == [(s, u) for u, s in forward]
    assert graph.edges["includes_user"].data["weight"].tolist() == graph.edges["active_in"].data["weight"].tolist()


def test_appears_in_weights_genre_channel():
    dataset, graph = build("genre-channel")

    expected = Counter()
    for u, i, _, _, _, raw_item in rows_by_split(dataset)["train"]:
        expected[(i, CHANNEL_OF_ITEM[raw_item])] += 1
    weights = dict(zip(edge_pairs(graph, "appears_in"), graph.edges["appears_in"].data["weight"].tolist()))

    assert weights == {pair: float(n) for pair, n in expected.items()}


def test_active_in_weights_genre_channel():
    dataset, graph = build("genre-channel")

    expected = Counter()
    for u, _, _, _, _, raw_item in rows_by_split(dataset)["train"]:
        expected[(u, CHANNEL_OF_ITEM[raw_item])] += 1
    weights = dict(zip(edge_pairs(graph, "active_in"), graph.edges["active_in"].data["weight"].tolist()))

    assert weights == {pair: float(n) for pair, n in expected.items()}


def test_includes_item_mirrors_appears_in():
    _, graph = build("genre-channel")

    forward = edge_pairs(graph, "appears_in")
    backward = edge_pairs(graph, "includes_item")

    assert backward == [(s, i) for i, s in forward]
    assert graph.edges["includes_item"].data["weight"].tolist() == graph.edges["appears_in"].data["weight"].tolist()


def test_scenario_overlap_age_group():
    _, graph = build("age-group")

    overlap = scenario_overlap(graph)

    # Users 1 and 5 are under 25, users 2 and 3 are 25-34, users 4 and 6 are 35 or older.
    # Age groups are disjoint, so every off-diagonal count is 0.
    expected = np.diag([2, 2, 2])
    assert np.array_equal(overlap, expected)


def test_scenario_overlap_genre_channel_dense():
    dataset, graph = build("genre-channel")

    membership = np.zeros((6, 5), dtype=np.int64)
    for u, _, _, _, _, raw_item in rows_by_split(dataset)["train"]:
        membership[u, CHANNEL_OF_ITEM[raw_item]] = 1
    expected = membership.T @ membership

    overlap = scenario_overlap(graph)

    assert np.array_equal(np.diag(overlap), membership.sum(axis=0))
    assert np.array_equal(overlap, expected)


def test_scenario_overlap_items():
    dataset, graph = build("genre-channel")

    overlap = scenario_overlap(graph, ntype="item")

    # Each item belongs to one channel, so the diagonal counts the items of
    # each channel that have a training interaction.
    trained = {raw_item for *_, raw_item in rows_by_split(dataset)["train"]}
    expected = np.zeros((5, 5), dtype=np.int64)
    for raw_item in trained:
        expected[CHANNEL_OF_ITEM[raw_item], CHANNEL_OF_ITEM[raw_item]] += 1
    assert np.array_equal(overlap, expected)


@pytest.mark.real_data
def test_ml100k_graph_has_train_edges_only():
    root = real_data_root("ml-100k")
    raw = load_movielens("ml-100k", root, download=False)
    dataset = build_dataset(raw, assign_scenarios("age-group", raw), (0.8, 0.1, 0.1), SEED)

    graph = build_graph(dataset)

    train = dataset.splits == TRAIN
    assert graph.num_edges("interacts") == int(train.sum())
    assert graph.num_edges("interacted_by") == int(train.sum())
    edge_keys = set(edge_pairs(graph, "interacts"))
    held_out_keys = set(zip(dataset.users[~train].tolist(), dataset.items[~train].tolist()))
    assert len(held_out_keys) == int((~train).sum())
    assert edge_keys.isdisjoint(held_out_keys)
    assert graph.num_nodes("user") == 943
    assert graph.num_nodes("item") == 1682
