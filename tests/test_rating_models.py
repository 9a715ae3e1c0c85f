"""Rating models: BiasedMF, GC-MC and the pair_logits hook of graphrec.models.pointwise."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import tiny_dataset
from torch import nn

from graphrec.data.dataset import RecDataset, build_dataset
from graphrec.data.scenarios import assign_scenarios
from graphrec.data.split import TEST, TRAIN, VALID
from graphrec.data.tables import RawData
from graphrec.errors import ConfigError
from graphrec.eval.rating_evaluator import evaluate_rating, predict_ratings
from graphrec.experiments.config import TrainConfig
from graphrec.graph.build import build_graph
from graphrec.models import gcmc as gcmc_module
from graphrec.models.base import Recommender
from graphrec.models.biased_mf import BiasedMF
from graphrec.models.gcmc import GCMC, expected_rating
from graphrec.models.pointwise import PairScorer, pair_logits, rating_offset
from graphrec.train.ctr_trainer import CTRTrainer, regularisation


def ratings_dataset(rows: list[tuple[int, int, float, int]]) -> RecDataset:
    """Build a dataset from (user, item, rating, split label) rows, with the split taken as given."""
    interactions = pd.DataFrame(
        {
            "user_id": [row[0] for row in rows],
            "item_id": [row[1] for row in rows],
            "rating": [float(row[2]) for row in rows],
            "timestamp": [880000000 + 6 * 3600 * index for index in range(len(rows))],
        }
    )
    item_ids = sorted({row[1] for row in rows})
    items = pd.DataFrame(
        {
            "item_id": np.array(item_ids, dtype=np.int64),
            "title": [f"Movie {item} (1995)" for item in item_ids],
            "year": pd.array([1995] * len(item_ids), dtype="Int64"),
            "genres": [("Drama",)] * len(item_ids),
        }
    )
    raw = RawData(name="ratings", interactions=interactions, items=items, users=None, genres=["Drama"])
    labels = np.array([row[3] for row in rows], dtype=np.int8)
    return build_dataset(raw, assign_scenarios("daypart", raw), (0.8, 0.1, 0.1), 0, split_labels=labels)


def item_level_dataset(n_users: int = 30, n_items: int = 20, seed: int = 0) -> RecDataset:
    """Build a dataset where every user gives item ``j`` the rating ``1 + j % 5``, split 80/10/10 at random."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        for item in rng.choice(n_items, size=12, replace=False):
            label = rng.choice([TRAIN, VALID, TEST], p=[0.8, 0.1, 0.1])
            rows.append((user, int(item), 1.0 + int(item) % 5, int(label)))
    return ratings_dataset(rows)


def mean_rmse(dataset: RecDataset, split: int) -> float:
    """Return the RMSE on ``split`` of predicting the mean training rating everywhere."""
    truth = dataset.ratings[dataset.splits == split]
    return float(np.sqrt(np.mean((truth - rating_offset(dataset)) ** 2)))


# ---------------------------------------------------------------------------
# rating_offset and the pair_logits hook


def test_rating_offset_tiny_dataset():
    # The 28 training rows of the tiny dataset sum to 17 + 14 + 15 + 13 + 16 + 15 = 90 (per user).
    assert rating_offset(tiny_dataset()) == pytest.approx(90 / 28)


class HookedMF(Recommender):
    """Has user_emb and item_emb, which the inner-product rule would use, and its own pair_logits."""

    def __init__(self, dataset, graph):
        super().__init__(dataset, graph)
        self.user_emb = nn.Embedding(dataset.n_users, 2)
        self.item_emb = nn.Embedding(dataset.n_items, 2)

    def pair_logits(self, users, items, scenarios):
        return 10.0 * users.float() + items.float()


def test_pair_logits_hook_takes_precedence():
    dataset = tiny_dataset()
    model = HookedMF(dataset, build_graph(dataset))
    users, items, scenarios = torch.tensor([0, 1, 5]), torch.tensor([3, 0, 7]), torch.tensor([0, 1, 2])

    assert PairScorer(model)(users, items, scenarios).tolist() == [3.0, 10.0, 57.0]
    assert pair_logits(model, users, items, scenarios).tolist() == [3.0, 10.0, 57.0]


def test_pair_logits_hook_shapes_checked():
    dataset = tiny_dataset()
    scorer = PairScorer(HookedMF(dataset, build_graph(dataset)))

    with pytest.raises(ValueError, match="same length"):
        scorer(torch.tensor([0, 1]), torch.tensor([0]), torch.tensor([0, 0]))


# ---------------------------------------------------------------------------
# BiasedMF


def fixed_biased_mf() -> BiasedMF:
    """BiasedMF on the tiny dataset with hand-set factors and biases for users 0, 1 and items 0, 1."""
    dataset = tiny_dataset()
    model = BiasedMF(dataset, build_graph(dataset), embedding_dim=2, reg_weight=0.1)
    with torch.no_grad():
        model.user_emb.weight.zero_()
        model.item_emb.weight.zero_()
        model.user_emb.weight[:2] = torch.tensor([[1.0, 2.0], [0.5, -1.0]])
        model.item_emb.weight[:2] = torch.tensor([[3.0, 0.0], [-1.0, 1.0]])
        model.user_bias.weight[:2, 0] = torch.tensor([0.1, -0.2])
        model.item_bias.weight[:2, 0] = torch.tensor([0.3, 0.0])
    return model


def test_biased_mf_prediction_by_hand():
    model = fixed_biased_mf()
    users, items = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1])
    logits = PairScorer(model)(users, items, torch.zeros(4, dtype=torch.long))

    # b_u + b_i + <p_u, q_i>: 0.1 + 0.3 + 3 = 3.4, 0.1 + 0 + (-1 + 2) = 1.1,
    # -0.2 + 0.3 + 1.5 = 1.6 and -0.2 + 0 + (-0.5 - 1) = -1.7.
    np.testing.assert_allclose(logits.detach().numpy(), [3.4, 1.1, 1.6, -1.7], rtol=1e-6)


def test_biased_mf_rating_adds_mean():
    model = fixed_biased_mf()
    dataset = tiny_dataset()
    # Row 0 is raw user 1 and item 101 (indices 0 and 0), a training rating of 5.
    row = np.array([0])
    predicted = predict_ratings(model, dataset, row, rating_offset(dataset))

    assert predicted[0] == pytest.approx(90 / 28 + 3.4, rel=1e-6)


def test_biased_mf_penalty_by_hand():
    model = fixed_biased_mf()
    users, items, scenarios = torch.tensor([0, 1]), torch.tensor([0, 1]), torch.zeros(2, dtype=torch.long)

    # Pair (0, 0): (1 + 4) + (9 + 0) + 0.01 + 0.09 = 14.1. Pair (1, 1): (0.25 + 1) + (1 + 1) + 0.04 + 0 = 3.29.
    # The mean is 8.695, times reg_weight 0.1.
    assert float(model.pair_penalty(users, items, scenarios)) == pytest.approx(0.8695, rel=1e-6)
    assert float(regularisation(model, users, items, scenarios)) == pytest.approx(0.8695, rel=1e-6)


def test_biased_mf_score_matches_pairs():
    model = fixed_biased_mf()
    scores = model.score(torch.tensor([0, 1]))

    assert scores.shape == (2, 8)
    np.testing.assert_allclose(scores[:, :2].detach().numpy(), [[3.4, 1.1], [1.6, -1.7]], rtol=1e-6)
    # Item 2 has zero factors and bias, so only b_u remains.
    np.testing.assert_allclose(scores[:, 2].detach().numpy(), [0.1, -0.2], rtol=1e-6)


def test_biased_mf_learns_item_levels():
    dataset = item_level_dataset()
    model = BiasedMF(dataset, build_graph(dataset), embedding_dim=4, reg_weight=1e-4)
    config = TrainConfig(epochs=60, batch_size=64, learning_rate=0.05, patience=60)
    trainer = CTRTrainer(config, seed=0, progress=False, objective="rating")
    trainer.fit(model, dataset, dataset.ratings)

    rmse = evaluate_rating(model, dataset, VALID, trainer.offset)["all"]["rmse"]
    # The ratings of the item-level dataset spread from 1 to 5, so the mean alone misses by about 1.4.
    assert mean_rmse(dataset, VALID) > 1.2
    assert rmse < 0.5


# ---------------------------------------------------------------------------
# GC-MC message passing on a graph of 2 users and 2 items

# Training ratings: user 0 rates item 0 with 1 and item 1 with 5, user 1 rates
# item 1 with 5. The test rating of user 1 on item 0 must not become an edge.
# Degrees: user 0 -> 2, user 1 -> 1, item 0 -> 1, item 1 -> 2.
TWO_BY_TWO = [(1, 1, 1.0, TRAIN), (1, 2, 5.0, TRAIN), (2, 2, 5.0, TRAIN), (2, 1, 3.0, TEST)]


def fixed_two_by_two(**params) -> GCMC:
    """GC-MC on TWO_BY_TWO with one unit per level and hand-set message weights."""
    dataset = ratings_dataset(TWO_BY_TWO)
    params = {"hidden_dim": 2, "output_dim": 2, "dropout": 0.0, **params}
    model = GCMC(dataset, build_graph(dataset), **params)
    with torch.no_grad():
        # [level, sender, unit]: levels are ratings 1 and 5.
        model.item_message_weight.copy_(torch.tensor([[[-2.0], [-3.0]], [[4.0], [6.0]]]))
        model.user_message_weight.copy_(torch.tensor([[[1.0], [5.0]], [[-10.0], [4.0]]]))
    model.eval()
    return model


@torch.no_grad()
def hidden_of(model: GCMC) -> tuple[torch.Tensor, torch.Tensor]:
    return model.aggregate()


def test_gcmc_levels_from_training_ratings():
    model = fixed_two_by_two()

    assert model.levels.tolist() == [1.0, 5.0]


def test_gcmc_stack_left_by_hand():
    user_hidden, item_hidden = hidden_of(fixed_two_by_two())

    # User 0 (degree 2): level 1 from item 0 gives -2 / 2 = -1, ReLU 0; level 5 from item 1 gives 6 / 2 = 3.
    # User 1 (degree 1): no level-1 rating; level 5 from item 1 gives 6.
    # Item 0 (degree 1): level 1 from user 0 gives 1. Item 1 (degree 2): level 5 from
    # users 0 and 1 gives (-10 + 4) / 2 = -3, ReLU 0.
    np.testing.assert_allclose(user_hidden.numpy(), [[0.0, 3.0], [0.0, 6.0]])
    np.testing.assert_allclose(item_hidden.numpy(), [[1.0, 0.0], [0.0, 0.0]])


def test_gcmc_symmetric_by_hand():
    user_hidden, item_hidden = hidden_of(fixed_two_by_two(normalisation="symmetric"))

    # c_ij = sqrt(deg_i deg_j). User 0, level 5: 6 / sqrt(2 * 2) = 3. User 1, level 5: 6 / sqrt(1 * 2).
    # Item 1, level 5: -10 / sqrt(2 * 2) + 4 / sqrt(1 * 2) = -5 + 2.8284271 = -2.1715729, ReLU 0.
    np.testing.assert_allclose(user_hidden.numpy(), [[0.0, 3.0], [0.0, 6.0 / math.sqrt(2.0)]], rtol=1e-6)
    np.testing.assert_allclose(item_hidden.numpy(), [[1.0 / math.sqrt(2.0), 0.0], [0.0, 0.0]], rtol=1e-6)


def test_gcmc_sum_accumulation_by_hand():
    user_hidden, item_hidden = hidden_of(fixed_two_by_two(hidden_dim=1, accumulation="sum"))

    # Sum over levels before the ReLU: user 0 gets -1 + 3 = 2, item 1 gets 0 + (-3), ReLU 0.
    np.testing.assert_allclose(user_hidden.numpy(), [[2.0], [6.0]])
    np.testing.assert_allclose(item_hidden.numpy(), [[1.0], [0.0]])


def test_gcmc_ordinal_sharing_by_hand():
    user_hidden, item_hidden = hidden_of(fixed_two_by_two(ordinal_sharing=True))

    # W_5 = T_1 + T_5. User 0, level 5 from item 1: (-3 + 6) / 2 = 1.5. User 1: 3.
    # Item 1, level 5: ((1 - 10) + (5 + 4)) / 2 = 0.
    np.testing.assert_allclose(user_hidden.numpy(), [[0.0, 1.5], [0.0, 3.0]])
    np.testing.assert_allclose(item_hidden.numpy(), [[1.0, 0.0], [0.0, 0.0]])


def test_gcmc_node_dropout_drops_whole_senders():
    model = fixed_two_by_two(dropout=0.5)
    model.train()
    torch.manual_seed(0)
    user_hidden, _ = hidden_of(model)

    # User 1's only message comes from item 1: kept and doubled (12) or dropped (0).
    assert float(user_hidden[1, 1]) in (0.0, 12.0)


def test_gcmc_graph_has_no_test_ratings():
    model = fixed_two_by_two()
    edges = set(zip(model.edge_users.tolist(), model.edge_items.tolist(), model.levels[model.edge_levels].tolist()))

    assert edges == {(0, 0, 1.0), (0, 1, 5.0), (1, 1, 5.0)}
    assert (1, 0) not in {(user, item) for user, item, _ in edges}


def test_gcmc_graph_matches_training_rows():
    dataset = tiny_dataset()
    model = GCMC(dataset, build_graph(dataset), hidden_dim=10, output_dim=4)
    edges = sorted(zip(model.edge_users.tolist(), model.edge_items.tolist(), model.levels[model.edge_levels].tolist()))
    train = dataset.splits == TRAIN
    expected = sorted(zip(dataset.users[train].tolist(), dataset.items[train].tolist(), dataset.ratings[train].tolist()))
    held_out = set(zip(dataset.users[~train].tolist(), dataset.items[~train].tolist()))

    assert len(edges) == 28
    assert edges == expected
    assert not held_out & {(user, item) for user, item, _ in edges}


def test_gcmc_stack_needs_divisible_hidden_dim():
    dataset = tiny_dataset()

    with pytest.raises(ConfigError, match="hidden_dim 7 is not divisible by the 5 rating levels"):
        GCMC(dataset, build_graph(dataset), hidden_dim=7)
    with pytest.raises(ConfigError, match="valid values: stack, sum"):
        GCMC(dataset, build_graph(dataset), accumulation="mean")


# ---------------------------------------------------------------------------
# GC-MC decoder


def test_expected_rating_fixed_logits():
    levels = torch.tensor([1.0, 5.0])
    # softmax(0, ln 3) = (1/4, 3/4), so 1/4 + 15/4 = 4.
    assert float(expected_rating(torch.tensor([0.0, math.log(3.0)]), levels)) == pytest.approx(4.0)
    # Equal logits over 1..5 give the middle rating.
    assert float(expected_rating(torch.zeros(5), torch.arange(1.0, 6.0))) == pytest.approx(3.0)


@pytest.mark.parametrize("min_density", [0.0, math.inf])
def test_gcmc_decoder_by_hand(monkeypatch, min_density):
    # 0 forces the dense product over all pairs and infinity the gathered rows; both must agree.
    monkeypatch.setattr(gcmc_module, "DENSE_DECODE_MIN_DENSITY", min_density)
    model = fixed_two_by_two()
    with torch.no_grad():
        model.basis.copy_(torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 0.0]]]))
        model.basis_coefficients.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0]]))
    user_out = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    item_out = torch.tensor([[3.0, 1.0], [2.0, -1.0]])

    logits = model.decode(user_out, item_out, torch.tensor([0, 1]), torch.tensor([0, 1]))

    # Pair (0, 0): u^T P_1 v = 3 + 2 = 5, u^T P_2 v = u_0 v_1 = 1. Levels: 5 - 1 = 4 and 2.5 + 2 = 4.5.
    # Pair (1, 1): u^T P_1 v = 0 - 1 = -1, u^T P_2 v = 0. Levels: -1 and -0.5.
    np.testing.assert_allclose(logits.detach().numpy(), [[4.0, 4.5], [-1.0, -0.5]], rtol=1e-6)


def test_gcmc_pair_logits_subtract_offset():
    model = fixed_two_by_two()
    dataset = ratings_dataset(TWO_BY_TWO)
    users, items, scenarios = torch.tensor([0, 1]), torch.tensor([1, 0]), torch.zeros(2, dtype=torch.long)

    with torch.no_grad():
        user_out, item_out = model.encode()
        probabilities = torch.softmax(model.decode(user_out, item_out, users, items), dim=1)
        logits = model.pair_logits(users, items, scenarios)

    # The mean training rating is (1 + 5 + 5) / 3.
    expected = probabilities[:, 0] * 1.0 + probabilities[:, 1] * 5.0 - 11.0 / 3.0
    assert rating_offset(dataset) == pytest.approx(11.0 / 3.0)
    np.testing.assert_allclose(logits.numpy(), expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(model.score(users)[[0, 1], [1, 0]].detach().numpy(), (expected + 11.0 / 3.0).numpy(), rtol=1e-6)


# ---------------------------------------------------------------------------
# GC-MC training


def test_gcmc_learns_item_levels():
    dataset = item_level_dataset()
    model = GCMC(dataset, build_graph(dataset), hidden_dim=20, output_dim=8, dropout=0.1)
    config = TrainConfig(epochs=150, learning_rate=0.02, patience=150)
    trainer = CTRTrainer(config, seed=0, progress=False, objective="rating")
    torch.manual_seed(0)
    result = trainer.fit(model, dataset, dataset.ratings)

    losses = [record["loss"] for record in result.history]
    rmse = evaluate_rating(model, dataset, VALID, trainer.offset)["all"]["rmse"]
    # Five equally likely levels start at cross-entropy ln 5 = 1.609.
    assert losses[0] == pytest.approx(math.log(5.0), abs=0.05)
    assert losses[-1] < 0.5
    assert rmse < 0.5


class CountingEpochs(HookedMF):
    """Sets custom_epoch for the BPR Trainer but has no pointwise_epoch, so CTRTrainer must not call train_epoch."""

    custom_epoch = True

    def __init__(self, dataset, graph):
        super().__init__(dataset, graph)
        self.scale = nn.Parameter(torch.ones(()))
        self.custom_calls = 0

    def pair_logits(self, users, items, scenarios):
        return self.scale * (self.user_emb(users) * self.item_emb(items)).sum(dim=1)

    def train_epoch(self, dataset, optimizer, rng, batch_size):
        self.custom_calls += 1
        return 0.0


def test_ctr_trainer_ignores_custom_epoch():
    dataset = item_level_dataset()
    model = CountingEpochs(dataset, build_graph(dataset))
    trainer = CTRTrainer(TrainConfig(epochs=2, batch_size=64, learning_rate=0.01), progress=False, objective="rating")
    result = trainer.fit(model, dataset, dataset.ratings)

    assert model.custom_calls == 0
    assert len(result.history) == 2
    assert result.history[0]["loss"] > 0.0
