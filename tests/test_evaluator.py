"""Tests for evaluate_model (graphrec.eval.evaluator) with hand-fixed scores on the tiny data.

The tiny data of helpers.py uses its fixed split. Indices: raw user r is
index r - 1 and raw item r is index r - 101. Per user (raw ids):

    user  train items              valid  test
    1     101 102 103 104 107      105    106
    2     103 104 106 107          101    108
    3     104 105 106 107 108      103    102
    4     101 102 105 108          107    104
    5     103 104 106 107 108      102    101
    6     101 102 105 106 107      108    103
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers import CHANNEL_OF_ITEM, INTERACTIONS, tiny_dataset

from graphrec.data.split import TEST, TRAIN, VALID
from graphrec.eval.evaluator import OVERALL, evaluate_model
from graphrec.models.base import Recommender

KS = (1, 3, 5)
METRICS = ("recall", "ndcg", "precision", "hit", "mrr")


class FixedScores(Recommender):
    """A model whose scores come from hand-written tables, one per scenario view.

    ``tables[None]`` is used for ``score(users)`` and ``tables[s]`` for
    ``score(users, scenario=s)``, falling back to ``tables[None]``.
    """

    trainable = False

    def __init__(self, dataset, tables: dict):
        super().__init__(dataset, graph=None)
        self.tables = {key: torch.as_tensor(np.asarray(value, dtype=np.float32)) for key, value in tables.items()}
        self.calls: list[int | None] = []

    def score(self, users, scenario=None):
        self.calls.append(scenario)
        table = self.tables.get(scenario, self.tables[None])
        return table[users]


def item_index_scores(sign: float = 1.0) -> np.ndarray:
    """Return [6, 8] scores equal to sign * item index for every user."""
    return sign * np.tile(np.arange(8, dtype=np.float32), (6, 1))


def split_item_scores() -> np.ndarray:
    """Return scores of 10 for training items, 5 for the valid item, 4 for the test item, 0 otherwise."""
    value = {TRAIN: 10.0, VALID: 5.0, TEST: 4.0}
    scores = np.zeros((6, 8), dtype=np.float32)
    for user, item, _, _, label in INTERACTIONS:
        scores[user - 1, item - 101] = value[label]
    return scores


def per_user(result, scenario: str, metric: str) -> dict[int, float]:
    values = result.per_user[scenario]
    return dict(zip(values["users"].tolist(), values[metric].tolist()))


@pytest.mark.parametrize("split", [VALID, TEST])
def test_masking_puts_held_out_item_first(split):
    dataset = tiny_dataset("age-group")
    model = FixedScores(dataset, {None: split_item_scores()})

    result = evaluate_model(model, dataset, split, ks=KS, metrics=METRICS)

    # On valid the training items (score 10) are masked, so the valid item
    # (score 5) ranks first. On test the valid item is masked as well, so the
    # test item (score 4) ranks first.
    overall = result.per_user[OVERALL]
    assert overall["users"].tolist() == [0, 1, 2, 3, 4, 5]
    assert overall["mrr@5"].tolist() == [1.0] * 6
    assert overall["recall@1"].tolist() == [1.0] * 6


def test_valid_items_not_masked_on_valid():
    dataset = tiny_dataset("age-group")
    # The test item outranks the valid item and is not masked on valid, so the valid item is second.
    scores = split_item_scores()
    scores[scores == 4.0] = 6.0
    model = FixedScores(dataset, {None: scores})

    result = evaluate_model(model, dataset, VALID, ks=KS, metrics=METRICS)

    assert result.per_user[OVERALL]["mrr@5"].tolist() == [0.5] * 6


def test_hand_values_user_1():
    dataset = tiny_dataset("age-group")
    model = FixedScores(dataset, {None: item_index_scores()})

    valid = evaluate_model(model, dataset, VALID, ks=KS, metrics=METRICS)
    test = evaluate_model(model, dataset, TEST, ks=KS, metrics=METRICS)

    # Valid: training items 101-104 and 107 are masked. Scores are the item
    # index, so the ranking is 108 (7), 106 (5), 105 (4) and the valid item 105 is third.
    assert per_user(valid, OVERALL, "recall@1")[0] == 0.0
    assert per_user(valid, OVERALL, "recall@3")[0] == 1.0
    assert per_user(valid, OVERALL, "hit@1")[0] == 0.0
    assert per_user(valid, OVERALL, "hit@3")[0] == 1.0
    assert math.isclose(per_user(valid, OVERALL, "precision@3")[0], 1 / 3)
    assert math.isclose(per_user(valid, OVERALL, "precision@5")[0], 1 / 5)
    assert math.isclose(per_user(valid, OVERALL, "mrr@3")[0], 1 / 3)
    # ndcg@3 = (1 / log2(3 + 1)) / 1 = 0.5
    assert math.isclose(per_user(valid, OVERALL, "ndcg@3")[0], 0.5)

    # Test: 105 is masked too, the ranking is 108, 106 and the test item 106 is second.
    assert per_user(test, OVERALL, "recall@1")[0] == 0.0
    assert per_user(test, OVERALL, "recall@3")[0] == 1.0
    assert math.isclose(per_user(test, OVERALL, "mrr@3")[0], 0.5)
    # ndcg@3 = 1 / log2(2 + 1) = 0.6309
    assert math.isclose(per_user(test, OVERALL, "ndcg@3")[0], 1 / math.log2(3))


def test_hand_values_user_2():
    dataset = tiny_dataset("age-group")
    model = FixedScores(dataset, {None: item_index_scores()})

    valid = evaluate_model(model, dataset, VALID, ks=KS, metrics=METRICS)
    test = evaluate_model(model, dataset, TEST, ks=KS, metrics=METRICS)

    # Valid: 103, 104, 106, 107 are masked. The ranking is 108 (7), 105 (4),
    # 102 (1), 101 (0), so the valid item 101 is fourth.
    assert per_user(valid, OVERALL, "recall@3")[1] == 0.0
    assert per_user(valid, OVERALL, "recall@5")[1] == 1.0
    assert per_user(valid, OVERALL, "mrr@3")[1] == 0.0
    assert math.isclose(per_user(valid, OVERALL, "mrr@5")[1], 0.25)
    # ndcg@5 = 1 / log2(4 + 1) = 0.4307
    assert math.isclose(per_user(valid, OVERALL, "ndcg@5")[1], 1 / math.log2(5))

    # Test: 101 is masked too. The ranking is 108, 105, 102 and the test item 108 is first.
    for metric in ("recall@1", "ndcg@1", "precision@1", "hit@1", "mrr@1", "ndcg@5"):
        assert per_user(test, OVERALL, metric)[1] == 1.0, metric


def test_result_keys_user_level():
    dataset = tiny_dataset("age-group")
    model = FixedScores(dataset, {None: item_index_scores()})

    result = evaluate_model(model, dataset, TEST, ks=KS, metrics=METRICS)

    expected_metrics = {"users"} | {f"{m}@{k}" for m in METRICS for k in KS}
    assert result.split == "test"
    assert set(result.per_user) == {OVERALL, "under-25", "25-34", "35-plus"}
    for scenario, values in result.per_user.items():
        assert set(values) == expected_metrics, scenario
    assert set(result.means()[OVERALL]) == expected_metrics - {"users"}


def test_per_scenario_users_user_level():
    dataset = tiny_dataset("age-group")
    model = FixedScores(dataset, {None: item_index_scores()})

    result = evaluate_model(model, dataset, VALID, ks=KS, metrics=METRICS)

    # Raw users 1 and 5 are under 25, 2 and 3 are 25-34, 4 and 6 are 35 or older.
    assert result.per_user["under-25"]["users"].tolist() == [0, 4]
    assert result.per_user["25-34"]["users"].tolist() == [1, 2]
    assert result.per_user["35-plus"]["users"].tolist() == [3, 5]


def test_per_scenario_uses_scenario_view():
    dataset = tiny_dataset("age-group")
    # The default view ranks by item index, every scenario view ranks by minus the item index.
    reversed_scores = item_index_scores(-1.0)
    model = FixedScores(dataset, {None: item_index_scores(), 0: reversed_scores, 1: reversed_scores, 2: reversed_scores})

    result = evaluate_model(model, dataset, VALID, ks=KS, metrics=METRICS)

    # User 1 on valid, candidates 105 (4), 106 (5), 108 (7): the default view
    # puts 105 third, the reversed view of scenario under-25 puts it first.
    assert math.isclose(per_user(result, OVERALL, "mrr@3")[0], 1 / 3)
    assert per_user(result, "under-25", "mrr@3")[0] == 1.0
    assert set(model.calls) == {None, 0, 1, 2}


def test_per_scenario_off_skips_scenarios():
    dataset = tiny_dataset("age-group")
    model = FixedScores(dataset, {None: item_index_scores()})

    result = evaluate_model(model, dataset, VALID, ks=KS, metrics=METRICS, per_scenario=False)

    assert set(result.per_user) == {OVERALL}
    assert set(model.calls) == {None}


def test_item_level_per_scenario_users():
    dataset = tiny_dataset("genre-channel")
    model = FixedScores(dataset, {None: item_index_scores()})

    result = evaluate_model(model, dataset, TEST, ks=KS, metrics=METRICS)

    # Test items and their channels: user 1 -> 106 (thriller-crime), 2 -> 108
    # (documentary-other), 3 -> 102 (action-adventure), 4 -> 104 (drama-romance),
    # 5 -> 101 (thriller-crime), 6 -> 103 (family-comedy).
    assert result.per_user["thriller-crime"]["users"].tolist() == [0, 4]
    assert result.per_user["action-adventure"]["users"].tolist() == [2]
    assert result.per_user["family-comedy"]["users"].tolist() == [5]
    assert result.per_user["drama-romance"]["users"].tolist() == [3]
    assert result.per_user["documentary-other"]["users"].tolist() == [1]


def test_item_level_ranks_only_scenario_items():
    dataset = tiny_dataset("genre-channel")
    # In the view of channel s every item outside s scores 100 and every item
    # inside s scores minus its index. Without the candidate restriction the
    # outside items would take the top ranks.
    tables = {None: item_index_scores()}
    for channel in range(5):
        table = item_index_scores(-1.0)
        for raw_item, item_channel in CHANNEL_OF_ITEM.items():
            if item_channel != channel:
                table[:, raw_item - 101] = 100.0
        tables[channel] = table
    model = FixedScores(dataset, tables)

    result = evaluate_model(model, dataset, TEST, ks=KS, metrics=METRICS)

    # Channel members left after masking train and valid items:
    # thriller-crime: user 1 has only 106, user 5 has only 101 -> rank 1 each.
    # action-adventure: user 3 has only 102 (107 is a training item) -> rank 1.
    # family-comedy: user 6 has 103 -> rank 1. drama-romance: user 4 has 104 -> rank 1.
    # documentary-other: user 2 has 105 (-4) and 108 (-7), so the test item 108 is second.
    assert result.per_user["thriller-crime"]["mrr@3"].tolist() == [1.0, 1.0]
    assert result.per_user["action-adventure"]["mrr@3"].tolist() == [1.0]
    assert result.per_user["family-comedy"]["mrr@3"].tolist() == [1.0]
    assert result.per_user["drama-romance"]["mrr@3"].tolist() == [1.0]
    assert result.per_user["documentary-other"]["mrr@3"].tolist() == [0.5]
    # ndcg@3 of rank 2 = 1 / log2(3)
    assert math.isclose(result.per_user["documentary-other"]["ndcg@3"][0], 1 / math.log2(3))


def test_item_level_overall_ranks_all_items():
    dataset = tiny_dataset("genre-channel")
    model = FixedScores(dataset, {None: item_index_scores(-1.0)})

    result = evaluate_model(model, dataset, TEST, ks=KS, metrics=METRICS)

    # User 2 overall, ranked by minus the index among the unmasked 102 (-1),
    # 105 (-4), 108 (-7): the test item 108 is third. In its channel only 105
    # and 108 compete, so it is second.
    assert math.isclose(per_user(result, OVERALL, "mrr@3")[1], 1 / 3)
    assert math.isclose(per_user(result, "documentary-other", "mrr@3")[1], 0.5)


def test_means_average_users():
    dataset = tiny_dataset("age-group")
    model = FixedScores(dataset, {None: item_index_scores()})

    result = evaluate_model(model, dataset, VALID, ks=KS, metrics=METRICS)

    for scenario, values in result.means().items():
        for metric, mean in values.items():
            assert math.isclose(mean, float(np.mean(result.per_user[scenario][metric]))), f"{scenario} {metric}"


def test_restores_training_mode():
    dataset = tiny_dataset("age-group")
    model = FixedScores(dataset, {None: item_index_scores()})
    model.train()

    evaluate_model(model, dataset, VALID, ks=KS, metrics=METRICS)

    assert model.training


def test_rejects_train_split():
    dataset = tiny_dataset("age-group")
    model = FixedScores(dataset, {None: item_index_scores()})

    with pytest.raises(ValueError, match="split"):
        evaluate_model(model, dataset, TRAIN, ks=KS, metrics=METRICS)


def test_cold_start_users_item_level():
    dataset = tiny_dataset("genre-channel")
    model = FixedScores(dataset, {None: item_index_scores()})

    result = evaluate_model(model, dataset, TEST, ks=KS, metrics=METRICS)

    # A user is cold in a channel when none of the user's training items is in it.
    train_channels = {}
    for user, item, _, _, label in INTERACTIONS:
        if label == TRAIN:
            train_channels.setdefault(user - 1, set()).add(CHANNEL_OF_ITEM[item])
    for s, name in enumerate(dataset.scenario_names):
        users = result.per_user[name]["users"].tolist()
        cold = [u for u in users if s not in train_channels[u]]
        key = name + "/cold-start"
        if not cold:
            assert key not in result.per_user
            continue
        assert result.per_user[key]["users"].tolist() == cold
        whole = per_user(result, name, "ndcg@5")
        assert per_user(result, key, "ndcg@5") == {u: whole[u] for u in cold}


def test_cold_start_present_on_tiny_data():
    dataset = tiny_dataset("genre-channel")
    result = evaluate_model(FixedScores(dataset, {None: item_index_scores()}), dataset, TEST, ks=KS, metrics=METRICS)

    # Raw user 2's test item 108 is documentary-other, a channel none of the user's training items is in.
    assert 1 in result.per_user["documentary-other/cold-start"]["users"].tolist()
