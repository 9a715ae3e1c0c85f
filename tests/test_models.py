"""Tests for the propagation layers and models against dense NumPy computations.

The graphs come from the tiny data of helpers.py with its fixed split, so every
user and item has training edges.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers import AGE_GROUP_OF_USER, CHANNEL_OF_ITEM, FIXED_TRAIN_COUNT_OF_ITEM, tiny_dataset

from graphrec.data.split import TRAIN
from graphrec.errors import ConfigError
from graphrec.graph.build import build_graph
from graphrec.models.base import bpr_loss, l2_penalty
from graphrec.models.lightgcn import LightGCN
from graphrec.models.mf import BPRMF
from graphrec.models.pop import Pop
from graphrec.models.scenario_gnn import ScenarioGNN
from graphrec.nn.lightgcn import LightGCNConv
from graphrec.nn.sparse import SparseOperator

DIM = 8


def dense_norm_adjacency(dataset) -> np.ndarray:
    """Return D_u^-1/2 A D_i^-1/2 [U, I] of the training interactions, in float64."""
    adjacency = np.zeros((dataset.n_users, dataset.n_items))
    train = dataset.splits == TRAIN
    for u, i in zip(dataset.users[train], dataset.items[train]):
        adjacency[u, i] = 1.0
    user_deg = adjacency.sum(axis=1)
    item_deg = adjacency.sum(axis=0)
    return adjacency / np.sqrt(np.outer(user_deg, item_deg))


def dense_lightgcn(norm: np.ndarray, user: np.ndarray, item: np.ndarray, n_layers: int):
    """Return the layer-mean LightGCN representations computed with dense matrices."""
    user_sum, item_sum = user.copy(), item.copy()
    for _ in range(n_layers):
        user, item = norm @ item, norm.T @ user
        user_sum += user
        item_sum += item
    return user_sum / (n_layers + 1), item_sum / (n_layers + 1)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().double().numpy()


@pytest.fixture
def age_data():
    dataset = tiny_dataset("age-group")
    return dataset, build_graph(dataset)


@pytest.fixture
def genre_data():
    dataset = tiny_dataset("genre-channel")
    return dataset, build_graph(dataset)


def test_lightgcn_conv_matches_dense(age_data):
    dataset, graph = age_data
    torch.manual_seed(0)
    user = torch.randn(dataset.n_users, DIM)
    item = torch.randn(dataset.n_items, DIM)
    norm = dense_norm_adjacency(dataset)

    next_user, next_item = LightGCNConv(graph)(user, item)

    assert np.allclose(to_numpy(next_user), norm @ to_numpy(item), atol=1e-5)
    assert np.allclose(to_numpy(next_item), norm.T @ to_numpy(user), atol=1e-5)


def test_lightgcn_norm_entry_by_hand(age_data):
    dataset, graph = age_data
    user = torch.zeros(dataset.n_users, 1)
    item = torch.zeros(dataset.n_items, 1)
    item[6] = 1.0  # raw item 107

    next_user, _ = LightGCNConv(graph)(user, item)

    # Raw user 1 (index 0) trains on 5 items, raw item 107 has 5 training users,
    # so the message weight is 1 / sqrt(5 * 5) = 0.2. Raw user 4 (index 3) does
    # not train on 107 and receives nothing.
    assert math.isclose(float(next_user[0, 0]), 0.2, rel_tol=1e-6)
    assert float(next_user[3, 0]) == 0.0


@pytest.mark.parametrize("n_layers", [0, 1, 3])
def test_lightgcn_propagate_matches_dense(age_data, n_layers):
    dataset, graph = age_data
    torch.manual_seed(1)
    model = LightGCN(dataset, graph, embedding_dim=DIM, n_layers=n_layers)
    norm = dense_norm_adjacency(dataset)

    with torch.no_grad():
        user_final, item_final = model.propagate()
    expected_user, expected_item = dense_lightgcn(
        norm, to_numpy(model.user_emb.weight), to_numpy(model.item_emb.weight), n_layers
    )

    assert np.allclose(to_numpy(user_final), expected_user, atol=1e-5)
    assert np.allclose(to_numpy(item_final), expected_item, atol=1e-5)


def test_lightgcn_score_is_inner_product(age_data):
    dataset, graph = age_data
    torch.manual_seed(2)
    model = LightGCN(dataset, graph, embedding_dim=DIM, n_layers=2)
    norm = dense_norm_adjacency(dataset)
    expected_user, expected_item = dense_lightgcn(
        norm, to_numpy(model.user_emb.weight), to_numpy(model.item_emb.weight), 2
    )

    scores = model.score(torch.tensor([4, 0]))

    assert np.allclose(to_numpy(scores), expected_user[[4, 0]] @ expected_item.T, atol=1e-5)


def test_scenario_gnn_initial_state(age_data):
    dataset, graph = age_data

    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=2)

    assert torch.equal(model.transfer_logits, torch.zeros(3, 3))
    for conv in model.convs:
        assert torch.equal(conv.gates(), torch.ones(3, DIM))
        assert torch.equal(conv.beta().detach(), torch.zeros(2))


@pytest.mark.parametrize("fixture_name", ["age_data", "genre_data"])
def test_scenario_gnn_init_equals_lightgcn(fixture_name, request):
    dataset, graph = request.getfixturevalue(fixture_name)
    torch.manual_seed(3)
    lightgcn = LightGCN(dataset, graph, embedding_dim=DIM, n_layers=2)
    scenario_gnn = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=2)
    with torch.no_grad():
        scenario_gnn.user_emb.weight.copy_(lightgcn.user_emb.weight)
        scenario_gnn.item_emb.weight.copy_(lightgcn.item_emb.weight)

    with torch.no_grad():
        user_final, item_final = lightgcn.propagate()
        user_views, item_views = scenario_gnn.propagate()

    assert user_views.shape == (dataset.n_users, dataset.n_scenarios, DIM)
    assert item_views.shape == (dataset.n_items, dataset.n_scenarios, DIM)
    for s in range(dataset.n_scenarios):
        assert torch.allclose(user_views[:, s], user_final, atol=1e-6), f"user view {s}"
        assert torch.allclose(item_views[:, s], item_final, atol=1e-6), f"item view {s}"


def test_transfer_weights_learned(age_data):
    dataset, graph = age_data
    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=1)
    with torch.no_grad():
        model.transfer_logits.copy_(torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 3.0], [-2.0, 1.0, 1.0]]))

    weights = model.transfer_weights()

    assert torch.allclose(weights.sum(dim=1), torch.ones(3), atol=1e-6)
    assert (weights > 0).all()
    # Row 1 by hand: exp([0, 0, 3]) / (2 + e^3) = [0.0451, 0.0451, 0.9097].
    row = np.exp([0.0, 0.0, 3.0]) / (2 + math.e**3)
    assert np.allclose(to_numpy(weights[1]), row, atol=1e-5)


def test_transfer_weights_learned_at_init(age_data):
    dataset, graph = age_data
    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=1)

    assert torch.allclose(model.transfer_weights(), torch.full((3, 3), 1 / 3))


def test_transfer_weights_pooled(age_data):
    dataset, graph = age_data
    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=1, transfer="pooled")

    assert torch.equal(model.transfer_weights(), torch.full((3, 3), 1 / 3))
    assert not model.transfer_logits.requires_grad


def test_transfer_weights_isolated(age_data):
    dataset, graph = age_data
    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=1, transfer="isolated")

    assert torch.equal(model.transfer_weights(), torch.eye(3))
    assert not model.transfer_logits.requires_grad


def test_transfer_table_shares(age_data):
    dataset, graph = age_data
    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=1, transfer="isolated")

    assert np.allclose(model.transfer_table(), np.eye(3))


def test_invalid_transfer_mode(age_data):
    dataset, graph = age_data

    with pytest.raises(ConfigError, match="transfer"):
        ScenarioGNN(dataset, graph, transfer="shared")


def training_triples(dataset, seed: int = 0):
    """Return every training (user, item, scenario) with one negative item per row."""
    train = dataset.splits == TRAIN
    users = dataset.users[train]
    items = dataset.items[train]
    scenarios = dataset.scenarios[train]
    dense = dataset.train_matrix.toarray() > 0
    rng = np.random.default_rng(seed)
    negatives = np.array([rng.choice(np.flatnonzero(~dense[u])) for u in users])
    return tuple(torch.from_numpy(np.asarray(a, dtype=np.int64)) for a in (users, items, negatives, scenarios))


@pytest.mark.parametrize("fixture_name", ["age_data", "genre_data"])
def test_scenario_gnn_gradients_reach_scenario_parameters(fixture_name, request):
    dataset, graph = request.getfixturevalue(fixture_name)
    torch.manual_seed(4)
    # Without the L2 penalty, the scenario embeddings' gradient comes from the
    # ranking loss alone.
    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=2, reg_weight=0.0)

    model.loss(*training_triples(dataset)).backward()

    assert model.transfer_logits.grad is not None
    assert model.transfer_logits.grad.abs().sum() > 0
    for index, conv in enumerate(model.convs):
        assert conv.gate_logits.grad is not None, f"layer {index}"
        assert conv.gate_logits.grad.abs().sum() > 0, f"layer {index}"
        assert conv.beta_logits.grad is not None, f"layer {index}"
        assert conv.beta_logits.grad[0] != 0, f"layer {index} user beta"
        assert conv.beta_logits.grad[1] != 0, f"layer {index} item beta"
    assert model.user_emb.weight.grad.abs().sum() > 0
    # Scenario embeddings reach the output only through beta, which is 0 at
    # initialisation, so their gradient is 0 until beta moves.
    assert model.scenario_emb.weight.grad.abs().sum() == 0


def test_scenario_embedding_gradient_once_beta_moves(age_data):
    dataset, graph = age_data
    torch.manual_seed(12)
    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=2)
    with torch.no_grad():
        for conv in model.convs:
            conv.beta_logits.fill_(0.5)

    model.loss(*training_triples(dataset)).backward()

    assert model.scenario_emb.weight.grad.abs().sum() > 0


def test_scenario_gnn_ablations_freeze_parameters(age_data):
    dataset, graph = age_data

    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=1, gating=False, scenario_nodes=False)

    assert not model.convs[0].gate_logits.requires_grad
    assert not model.convs[0].beta_logits.requires_grad


def perturb(model: ScenarioGNN, seed: int) -> None:
    """Move the transfer logits, gates and betas away from their initial values."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.transfer_logits.copy_(torch.randn(model.transfer_logits.shape, generator=generator))
        for conv in model.convs:
            conv.gate_logits.copy_(torch.randn(conv.gate_logits.shape, generator=generator))
            conv.beta_logits.copy_(torch.randn(2, generator=generator))
    model.prepare_scoring()


def test_score_default_context_user_level(age_data):
    dataset, graph = age_data
    torch.manual_seed(5)
    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=2)
    perturb(model, seed=6)
    users = torch.arange(dataset.n_users)

    own = model.score(users)

    per_scenario = [model.score(users, scenario=s) for s in range(3)]
    # The check is only meaningful if the scenario views differ.
    assert not torch.allclose(per_scenario[0], per_scenario[1], atol=1e-4)
    for u in range(dataset.n_users):
        group = AGE_GROUP_OF_USER[int(dataset.user_ids[u])]
        assert torch.allclose(own[u], per_scenario[group][u], atol=1e-6), f"user index {u}"


def test_score_default_context_item_level(genre_data):
    dataset, graph = genre_data
    torch.manual_seed(7)
    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=2)
    perturb(model, seed=8)
    users = torch.arange(dataset.n_users)

    own = model.score(users)

    per_scenario = [model.score(users, scenario=s) for s in range(5)]
    assert not torch.allclose(per_scenario[0], per_scenario[1], atol=1e-4)
    for i in range(dataset.n_items):
        channel = CHANNEL_OF_ITEM[int(dataset.item_ids[i])]
        assert torch.allclose(own[:, i], per_scenario[channel][:, i], atol=1e-6), f"item index {i}"


def test_pop_scores_are_training_counts(age_data):
    dataset, graph = age_data
    model = Pop(dataset, graph)

    model.fit(dataset)
    scores = model.score(torch.tensor([0, 3, 5]))

    expected = [FIXED_TRAIN_COUNT_OF_ITEM[raw] for raw in range(101, 109)]
    assert not Pop.trainable
    assert scores.shape == (3, 8)
    for row in scores:
        assert row.tolist() == expected


def test_bprmf_score_is_inner_product(age_data):
    dataset, graph = age_data
    torch.manual_seed(9)
    model = BPRMF(dataset, graph, embedding_dim=DIM)

    scores = model.score(torch.tensor([2, 5]))

    expected = to_numpy(model.user_emb.weight)[[2, 5]] @ to_numpy(model.item_emb.weight).T
    assert np.allclose(to_numpy(scores), expected, atol=1e-5)


def test_bpr_loss_by_hand():
    loss = bpr_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]))

    # -(log sigmoid(2) + log sigmoid(0)) / 2 = (0.126928 + 0.693147) / 2 = 0.410038
    assert math.isclose(float(loss), 0.410038, abs_tol=1e-6)


def test_l2_penalty_by_hand():
    first = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    second = torch.tensor([[1.0, 0.0], [0.0, 1.0]])

    # 0.5 * (1 + 4 + 9 + 16 + 1 + 1) / 2 rows = 8
    assert float(l2_penalty(first, second)) == 8.0


# A [3, 4] with the entry (0, 1) given twice, so it must be summed to 0.5 + 1.5 = 2.
ROWS = torch.tensor([0, 0, 1, 2, 2, 2])
COLS = torch.tensor([1, 1, 0, 3, 2, 0])
VALUES = torch.tensor([0.5, 1.5, -1.0, 3.0, 0.25, 2.0])
DENSE = np.array(
    [
        [0.0, 2.0, 0.0, 0.0],
        [-1.0, 0.0, 0.0, 0.0],
        [2.0, 0.0, 0.25, 3.0],
    ]
)


def test_sparse_operator_forward_and_gradient():
    operator = SparseOperator(ROWS, COLS, VALUES, (3, 4))
    generator = torch.Generator().manual_seed(10)
    dense_input = torch.randn(4, 5, generator=generator, requires_grad=True)
    upstream = torch.randn(3, 5, generator=generator)

    output = operator(dense_input)
    (output * upstream).sum().backward()

    assert output.shape == (3, 5)
    assert np.allclose(to_numpy(output), DENSE @ to_numpy(dense_input), atol=1e-6)
    assert np.allclose(to_numpy(dense_input.grad), DENSE.T @ to_numpy(upstream), atol=1e-6)


def test_sparse_operator_transpose():
    operator = SparseOperator(ROWS, COLS, VALUES, (3, 4)).transpose()
    generator = torch.Generator().manual_seed(11)
    dense_input = torch.randn(3, 2, generator=generator, requires_grad=True)
    upstream = torch.randn(4, 2, generator=generator)

    output = operator(dense_input)
    (output * upstream).sum().backward()

    assert operator.shape == (4, 3)
    assert np.allclose(to_numpy(output), DENSE.T @ to_numpy(dense_input), atol=1e-6)
    assert np.allclose(to_numpy(dense_input.grad), DENSE @ to_numpy(upstream), atol=1e-6)


def test_sparse_operator_empty_row():
    # Row 1 of this matrix has no entry, so its output row must be zero.
    operator = SparseOperator(torch.tensor([0, 2]), torch.tensor([1, 0]), torch.tensor([1.0, 2.0]), (3, 2))

    output = operator(torch.tensor([[1.0], [10.0]]))

    assert output.flatten().tolist() == [10.0, 0.0, 2.0]


def test_structure_penalty_by_hand(age_data):
    dataset, graph = age_data
    model = ScenarioGNN(dataset, graph, embedding_dim=DIM, n_layers=2, structure_reg=0.5)
    assert float(model.structure_penalty()) == 0.0

    with torch.no_grad():
        model.transfer_logits[0, 1] = 2.0
        model.convs[0].gate_logits[1, 3] = -1.0
        model.convs[1].beta_logits[0] = 3.0

    # 2^2 + (-1)^2 + 3^2 = 14
    assert float(model.structure_penalty()) == pytest.approx(14.0)
