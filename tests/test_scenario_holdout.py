"""The scenario-holdout split: who loses which scenario, and what the evaluator reports."""

from __future__ import annotations

import numpy as np
import pytest

from graphrec.data.scenario_holdout import scenario_holdout_split
from graphrec.data.split import TEST, TRAIN, random_split_by_user
from graphrec.errors import ConfigError
from graphrec.eval.evaluator import evaluate_model
from graphrec.experiments.config import BenchmarkConfig, DatasetConfig, ProtocolConfig
from graphrec.experiments.runner import prepare_data
from graphrec.graph.build import build_graph
from graphrec.models.pop import Pop
from helpers import write_synthetic_ml100k

RATIOS = (0.8, 0.1, 0.1)


def toy_rows() -> tuple[np.ndarray, np.ndarray]:
    """Ten users with 12 rows each: users 0-7 in scenarios 0 and 1 (6 rows each), users 8-9 only in scenario 2."""
    users = np.repeat(np.arange(10), 12)
    scenarios = np.tile(np.repeat([0, 1], 6), 10)
    scenarios[users >= 8] = 2
    return users, scenarios


def held_out_pairs(users, scenarios, labels) -> set[tuple[int, int]]:
    """Return the (user, scenario) pairs whose rows are all in test."""
    pairs = set()
    for user, scenario in set(zip(users.tolist(), scenarios.tolist())):
        rows = (users == user) & (scenarios == scenario)
        if np.all(labels[rows] == TEST):
            pairs.add((user, scenario))
    return pairs


def test_holdout_picks_share_of_eligible():
    users, scenarios = toy_rows()

    labels = scenario_holdout_split(users, scenarios, RATIOS, share=0.5, seed=3)
    held_pairs = held_out_pairs(users, scenarios, labels)

    # 8 eligible users, share 0.5: 4 users, each with one whole scenario in test.
    assert len(held_pairs) == 4
    assert len({user for user, _ in held_pairs}) == 4
    assert all(user < 8 for user, _ in held_pairs)


def test_holdout_keeps_other_rows_random():
    users, scenarios = toy_rows()

    labels = scenario_holdout_split(users, scenarios, RATIOS, share=0.5, seed=3)
    plain = random_split_by_user(users, RATIOS, seed=3)

    held_pairs = held_out_pairs(users, scenarios, labels)
    moved = np.zeros(len(users), dtype=bool)
    for user, scenario in held_pairs:
        moved |= (users == user) & (scenarios == scenario)
    assert np.array_equal(labels[~moved], plain[~moved])
    assert np.all(labels[moved] == TEST)


def test_holdout_same_seed_same_labels():
    users, scenarios = toy_rows()

    first = scenario_holdout_split(users, scenarios, RATIOS, share=0.5, seed=7)
    second = scenario_holdout_split(users, scenarios, RATIOS, share=0.5, seed=7)

    assert np.array_equal(first, second)


def test_holdout_full_share_takes_all():
    users, scenarios = toy_rows()

    labels = scenario_holdout_split(users, scenarios, RATIOS, share=1.0, seed=0)

    held_pairs = held_out_pairs(users, scenarios, labels)
    assert sorted(user for user, _ in held_pairs) == list(range(8))


def test_holdout_without_eligible_users_fails():
    users = np.repeat(np.arange(4), 5)
    scenarios = users % 2

    with pytest.raises(ConfigError, match="genre-channel"):
        scenario_holdout_split(users, scenarios, RATIOS, share=0.2, seed=0)


def test_holdout_share_out_of_range_fails():
    users, scenarios = toy_rows()

    with pytest.raises(ConfigError, match="holdout_share"):
        scenario_holdout_split(users, scenarios, RATIOS, share=0.0, seed=0)


def test_holdout_users_become_cold_start(tmp_path):
    write_synthetic_ml100k(tmp_path, n_users=40, n_items=60)
    protocol = ProtocolConfig(split_method="scenario-holdout", holdout_share=0.5, seed=11, ks=[5], metrics=["ndcg"],
                              valid_metric="ndcg@5")
    config = BenchmarkConfig(dataset=DatasetConfig(name="ml-100k"), scenario="genre-channel", protocol=protocol)

    dataset = prepare_data(config, tmp_path, download=False)
    model = Pop(dataset, build_graph(dataset))
    model.fit(dataset)
    result = evaluate_model(model, dataset, TEST, ks=(5,), metrics=("ndcg",))

    # Recount from the dataset: test rows of a (user, channel) without any train row there.
    for s, name in enumerate(dataset.scenario_names):
        in_channel = dataset.scenarios == s
        test_users = set(dataset.users[in_channel & (dataset.splits == TEST)].tolist())
        trained = set(dataset.users[in_channel & (dataset.splits == TRAIN)].tolist())
        expected = sorted(u for u in test_users if u not in trained)
        key = name + "/cold-start"
        got = result.per_user[key]["users"].tolist() if key in result.per_user else []
        assert got == expected

    # Every held-out user is cold in the channel it lost, so the groups contain at least half the eligible users.
    channels_of_user = {}
    for user, scenario in zip(dataset.users.tolist(), dataset.scenarios.tolist()):
        channels_of_user.setdefault(user, set()).add(scenario)
    n_eligible = sum(len(channels) >= 2 for channels in channels_of_user.values())
    cold_total = sum(len(result.per_user[k]["users"]) for k in result.per_user if k.endswith("/cold-start"))
    assert cold_total >= round(0.5 * n_eligible)
    assert n_eligible >= 30
