"""Tests for the multi-scenario baselines separate-mf, star-mf and hetero-gnn.

Expected values come from hand computation on fixed weights or from NumPy
dot products on the weights, never from a second call into the model.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import AGE_GROUP_OF_USER, CHANNEL_OF_ITEM, tiny_dataset

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TEST, TRAIN
from graphrec.errors import ConfigError
from graphrec.experiments.config import TrainConfig
from graphrec.graph.build import build_graph
from graphrec.models.hetero_gnn import HeteroGNN, item_to_user_relation, user_to_item_relation
from graphrec.models.multi_scenario import SeparateMF, StarMF
from graphrec.train.trainer import Trainer

DIM = 4
R2 = math.sqrt(2.0)


def build(cls, dataset: RecDataset, **params):
    torch.manual_seed(0)
    return cls(dataset, build_graph(dataset), **params)


def toy_dataset() -> RecDataset:
    """Two users, two items, two interaction-level scenarios, one test row.

    Training rows (user, item, scenario): (0, 0, 0), (1, 0, 0), (1, 1, 0),
    (0, 1, 1). The test row (1, 1, 1) must never become an edge.
    """
    return RecDataset(
        name="toy",
        user_ids=np.array([10, 11]),
        item_ids=np.array([20, 21]),
        users=np.array([0, 1, 1, 0, 1]),
        items=np.array([0, 0, 1, 1, 1]),
        ratings=np.ones(5, dtype=np.float32),
        timestamps=np.arange(5, dtype=np.int64),
        scenarios=np.array([0, 0, 0, 1, 1]),
        splits=np.array([TRAIN, TRAIN, TRAIN, TRAIN, TEST], dtype=np.int8),
        scenario_spec="toy",
        scenario_level="interaction",
        scenario_names=("s0", "s1"),
        item_table=pd.DataFrame({"item_id": [20, 21]}),
        user_table=None,
    )


# Layer-0 embeddings of the toy graph: users 0, 1 and items 0, 1.
TOY_USERS = [[1.0, 2.0], [3.0, -1.0]]
TOY_ITEMS = [[2.0, 0.0], [-1.0, 4.0]]

# One sum-aggregated layer on the toy graph, worked out by hand. Scenario 0
# degrees: user 0 -> 1, user 1 -> 2, item 0 -> 2, item 1 -> 1. Scenario 1
# degrees: user 0 -> 1, item 1 -> 1 (the test row adds nothing).
#   user 0 = item0 / sqrt(1*2) + item1 / sqrt(1*1)
#   user 1 = item0 / sqrt(2*2) + item1 / sqrt(2*1)            (no scenario-1 edge)
#   item 0 = user0 / sqrt(1*2) + user1 / sqrt(2*2)            (no scenario-1 edge)
#   item 1 = user1 / sqrt(2*1) + user0 / sqrt(1*1)
TOY_LAYER1_USERS = [[R2 - 1.0, 4.0], [1.0 - 1.0 / R2, 2.0 * R2]]
TOY_LAYER1_ITEMS = [[1.0 / R2 + 1.5, R2 - 0.5], [3.0 / R2 + 1.0, 2.0 - 1.0 / R2]]


def toy_hetero_gnn(**params) -> HeteroGNN:
    dataset = toy_dataset()
    model = build(HeteroGNN, dataset, embedding_dim=2, n_layers=1, **params)
    with torch.no_grad():
        model.user_emb.weight.copy_(torch.tensor(TOY_USERS))
        model.item_emb.weight.copy_(torch.tensor(TOY_ITEMS))
    return model


def test_separate_mf_gradient_routing():
    dataset = tiny_dataset("age-group")
    model = build(SeparateMF, dataset, embedding_dim=DIM, reg_weight=0.1)
    # Index 1 is raw user 2, who is in age group 1. Items 2 and 4 are raw 103 and 105.
    user, pos, neg, scenario = 1, 2, 4, AGE_GROUP_OF_USER[2]

    loss = model.loss(torch.tensor([user]), torch.tensor([pos]), torch.tensor([neg]), torch.tensor([scenario]))
    loss.backward()

    user_grad = model.user_factors.grad
    item_grad = model.item_factors.grad
    for s in range(dataset.n_scenarios):
        if s != scenario:
            assert torch.count_nonzero(user_grad[s]) == 0
            assert torch.count_nonzero(item_grad[s]) == 0
    assert torch.count_nonzero(user_grad[scenario, user]) > 0
    assert torch.count_nonzero(item_grad[scenario, pos]) > 0
    assert torch.count_nonzero(item_grad[scenario, neg]) > 0
    assert torch.count_nonzero(user_grad[scenario]) == torch.count_nonzero(user_grad[scenario, user])
    other_items = [i for i in range(dataset.n_items) if i not in (pos, neg)]
    assert torch.count_nonzero(item_grad[scenario, other_items]) == 0


def test_separate_mf_scenario_table_score():
    dataset = tiny_dataset("age-group")
    model = build(SeparateMF, dataset, embedding_dim=DIM)
    users = torch.arange(dataset.n_users)
    user_tables = model.user_factors.detach().numpy()
    item_tables = model.item_factors.detach().numpy()

    for s in range(dataset.n_scenarios):
        expected = user_tables[s] @ item_tables[s].T
        assert np.allclose(model.score(users, scenario=s).detach().numpy(), expected, atol=1e-6)


def test_separate_mf_default_user_level():
    dataset = tiny_dataset("age-group")
    model = build(SeparateMF, dataset, embedding_dim=DIM)
    user_tables = model.user_factors.detach().numpy()
    item_tables = model.item_factors.detach().numpy()

    scores = model.score(torch.arange(dataset.n_users)).detach().numpy()

    for index, raw_user in enumerate(dataset.user_ids):
        group = AGE_GROUP_OF_USER[int(raw_user)]
        expected = user_tables[group, index] @ item_tables[group].T
        assert np.allclose(scores[index], expected, atol=1e-6)


def test_separate_mf_default_item_level():
    dataset = tiny_dataset("genre-channel")
    model = build(SeparateMF, dataset, embedding_dim=DIM)
    user_tables = model.user_factors.detach().numpy()
    item_tables = model.item_factors.detach().numpy()

    scores = model.score(torch.arange(dataset.n_users)).detach().numpy()

    for index, raw_item in enumerate(dataset.item_ids):
        channel = CHANNEL_OF_ITEM[int(raw_item)]
        expected = user_tables[channel] @ item_tables[channel, index]
        assert np.allclose(scores[:, index], expected, atol=1e-6)


def test_star_mf_combines_by_product():
    dataset = tiny_dataset("age-group")
    model = build(StarMF, dataset, embedding_dim=2)
    with torch.no_grad():
        model.user_emb.weight[0] = torch.tensor([1.0, 2.0])
        model.user_offsets[1, 0] = torch.tensor([0.5, -1.0])
        model.item_emb.weight[3] = torch.tensor([4.0, -2.0])
        model.item_offsets[1, 3] = torch.tensor([-0.25, 1.0])

    # e_u^1 = [1, 2] * [1.5, 0] = [1.5, 0] and e_i^1 = [4, -2] * [0.75, 2] = [3, -4].
    user = model.user_embedding(torch.tensor([0]), torch.tensor([1])).detach().numpy()
    item = model.item_embedding(torch.tensor([3]), torch.tensor([1])).detach().numpy()
    assert np.allclose(user, [[1.5, 0.0]])
    assert np.allclose(item, [[3.0, -4.0]])
    assert model.score(torch.tensor([0]), scenario=1)[0, 3].item() == pytest.approx(4.5)
    # Scenario 0 keeps zero offsets: <[1, 2], [4, -2]> = 0.
    assert model.score(torch.tensor([0]), scenario=0)[0, 3].item() == pytest.approx(0.0)


def test_star_mf_starts_as_shared_mf():
    dataset = tiny_dataset("age-group")
    model = build(StarMF, dataset, embedding_dim=DIM)
    shared = model.user_emb.weight.detach().numpy() @ model.item_emb.weight.detach().numpy().T
    users = torch.arange(dataset.n_users)

    for s in range(dataset.n_scenarios):
        assert np.allclose(model.score(users, scenario=s).detach().numpy(), shared, atol=1e-6)


def test_hetero_gnn_one_layer_by_hand():
    model = toy_hetero_gnn()

    user_final, item_final = model.propagate()

    expected_users = (np.array(TOY_USERS) + np.array(TOY_LAYER1_USERS)) / 2
    expected_items = (np.array(TOY_ITEMS) + np.array(TOY_LAYER1_ITEMS)) / 2
    assert np.allclose(user_final.detach().numpy(), expected_users, atol=1e-6)
    assert np.allclose(item_final.detach().numpy(), expected_items, atol=1e-6)


def test_hetero_gnn_mean_aggregation_by_hand():
    model = toy_hetero_gnn(aggregate="mean")

    user_final, item_final = model.propagate()

    # Two relations end at each node type, so the mean halves the layer-1 sum.
    expected_users = (np.array(TOY_USERS) + np.array(TOY_LAYER1_USERS) / 2) / 2
    expected_items = (np.array(TOY_ITEMS) + np.array(TOY_LAYER1_ITEMS) / 2) / 2
    assert np.allclose(user_final.detach().numpy(), expected_users, atol=1e-6)
    assert np.allclose(item_final.detach().numpy(), expected_items, atol=1e-6)


def test_hetero_gnn_identity_relation_weights():
    model = toy_hetero_gnn(relation_weights=True)

    user_final, _ = model.propagate()

    expected_users = (np.array(TOY_USERS) + np.array(TOY_LAYER1_USERS)) / 2
    assert np.allclose(user_final.detach().numpy(), expected_users, atol=1e-6)


def test_hetero_gnn_uses_training_edges_only():
    dataset = tiny_dataset("age-group")
    model = build(HeteroGNN, dataset, embedding_dim=DIM)
    graph = model.relation_graph
    train = dataset.splits == TRAIN

    for s in range(dataset.n_scenarios):
        rows = train & (dataset.scenarios == s)
        expected = sorted(zip(dataset.users[rows].tolist(), dataset.items[rows].tolist()))
        users, items = graph.edges(etype=user_to_item_relation(s))
        assert sorted(zip(users.tolist(), items.tolist())) == expected
        back_items, back_users = graph.edges(etype=item_to_user_relation(s))
        assert sorted(zip(back_users.tolist(), back_items.tolist())) == expected
    assert graph.num_edges() == 2 * int(train.sum())


def test_hetero_gnn_rejects_unknown_aggregate():
    with pytest.raises(ConfigError, match="'max'"):
        build(HeteroGNN, tiny_dataset("age-group"), aggregate="max")


@pytest.mark.parametrize(
    "cls, params",
    [
        (SeparateMF, {"reg_weight": 1e-3}),
        (StarMF, {"reg_weight": 1e-3, "specific_reg": 1e-3}),
        (HeteroGNN, {"n_layers": 2, "reg_weight": 1e-3}),
    ],
)
def test_training_lowers_loss(cls, params):
    dataset = tiny_dataset("age-group")
    model = build(cls, dataset, embedding_dim=8, **params)
    config = TrainConfig(epochs=15, batch_size=8, learning_rate=0.05, patience=100)

    result = Trainer(config, seed=0, progress=False).fit(model, dataset)

    losses = [record["loss"] for record in result.history]
    assert len(losses) == 15
    assert losses[-1] < 0.8 * losses[0]
