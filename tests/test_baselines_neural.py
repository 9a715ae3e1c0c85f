"""Tests for the neural baselines Mult-VAE, NeuMF, NGCF and SimGCL.

Expected values come from hand arithmetic or from dense NumPy formulas, never
from a second call into the model. The data is the tiny dataset of helpers.py
with its fixed split, where raw user ``u`` is index ``u - 1`` and raw item
``i`` is index ``i - 101``.
"""

from __future__ import annotations

import math
from pathlib import Path

import dgl
import numpy as np
import pytest
import torch

from helpers import INTERACTIONS, T, tiny_dataset

from graphrec.errors import ConfigError
from graphrec.experiments.config import TrainConfig, load_config
from graphrec.graph.build import build_graph
from graphrec.models.multvae import MultVAE, gaussian_kl, multinomial_nll
from graphrec.models.neumf import NeuMF
from graphrec.models.ngcf import NGCF, NGCFLayer
from graphrec.models.registry import get_model_class, hyperparameters
from graphrec.models.simgcl import SimGCL, info_nce, perturb
from graphrec.nn.lightgcn import LightGCNConv
from graphrec.train.trainer import Trainer

CONFIG = Path(__file__).resolve().parents[1] / "benchmarks" / "configs" / "ml100k-neural.yaml"


@pytest.fixture
def data():
    dataset = tiny_dataset("age-group")
    return dataset, build_graph(dataset)


def train_pairs() -> set[tuple[int, int]]:
    """Return the (user index, item index) pairs of the T rows of helpers.INTERACTIONS."""
    return {(user - 1, item - 101) for user, item, _, _, split in INTERACTIONS if split == T}


def dense_train_norm() -> np.ndarray:
    """Return D_u^-1/2 A D_i^-1/2 ``[6, 8]`` of the training pairs, in float64."""
    adjacency = np.zeros((6, 8))
    for user, item in train_pairs():
        adjacency[user, item] = 1.0
    return adjacency / np.sqrt(np.outer(adjacency.sum(axis=1), adjacency.sum(axis=0)))


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().double().numpy()


def epoch_losses(model, dataset, epochs: int, batch_size: int, learning_rate: float) -> list[float]:
    """Train with the real Trainer (validation every epoch) and return the mean loss of each epoch."""
    config = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=epochs)
    result = Trainer(config, progress=False, seed=0).fit(model, dataset)
    return [record["loss"] for record in result.history]


# Mult-VAE


def test_multvae_nll_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5))
    rows = (rng.random((3, 5)) < 0.5).astype(float)
    rows[0, 0] = 1.0

    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(rows * log_softmax).sum(axis=1).mean()

    actual = multinomial_nll(torch.from_numpy(logits), torch.from_numpy(rows))
    assert math.isclose(float(actual), expected, rel_tol=1e-9)


def test_multvae_kl_by_hand():
    mu = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    logvar = torch.tensor([[math.log(2.0), 0.0], [0.0, 0.0]], dtype=torch.float64)

    # Row 0: 0.5 * ((2 + 1 - 1 - log 2) + (1 + 4 - 1 - 0)) = 3 - 0.5 log 2.
    # Row 1 is the prior itself, so its KL is 0. The mean over rows halves row 0.
    expected = (3.0 - 0.5 * math.log(2.0)) / 2
    assert math.isclose(float(gaussian_kl(mu, logvar)), expected, rel_tol=1e-12)


def test_multvae_beta_schedule(data):
    dataset, graph = data
    model = MultVAE(dataset, graph, hidden_dim=4, latent_dim=2, anneal_cap=0.2, total_anneal_steps=10)

    assert model.beta() == 0.0
    model.anneal_step.fill_(1)
    assert math.isclose(model.beta(), 0.1)
    model.anneal_step.fill_(5)
    assert math.isclose(model.beta(), 0.2)

    no_annealing = MultVAE(dataset, graph, hidden_dim=4, latent_dim=2, anneal_cap=0.2, total_anneal_steps=0)
    assert no_annealing.beta() == 0.2


def test_multvae_score_reads_training_row(data):
    dataset, graph = data
    torch.manual_seed(0)
    model = MultVAE(dataset, graph, hidden_dim=4, latent_dim=3)
    model.eval()

    # Raw user 1 trains on 101, 102, 103, 104 and 107. Its valid (105) and
    # test (106) items must not enter the input row.
    row = np.zeros(8)
    row[[0, 1, 2, 3, 6]] = 1.0
    row /= math.sqrt(5.0)

    weights = [to_numpy(layer.weight) for layer in (model.encoder[0], model.encoder[2], model.decoder[0], model.decoder[2])]
    biases = [to_numpy(layer.bias) for layer in (model.encoder[0], model.encoder[2], model.decoder[0], model.decoder[2])]
    hidden = np.tanh(weights[0] @ row + biases[0])
    mu = (weights[1] @ hidden + biases[1])[:3]
    expected = weights[3] @ np.tanh(weights[2] @ mu + biases[2]) + biases[3]

    with torch.no_grad():
        actual = model.score(torch.tensor([0]))
    assert np.allclose(to_numpy(actual[0]), expected, atol=1e-5)


def test_multvae_epoch_counts_updates(data):
    dataset, graph = data
    torch.manual_seed(0)
    model = MultVAE(dataset, graph, hidden_dim=4, latent_dim=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    model.train_epoch(dataset, optimizer, np.random.default_rng(0), batch_size=4)

    # Six users with training rows in batches of 4 make two updates. The
    # counter is in the state dict, so checkpoints carry the annealing on.
    assert int(model.anneal_step) == 2
    assert int(model.state_dict()["anneal_step"]) == 2


def test_multvae_training_lowers_loss(data):
    dataset, graph = data
    torch.manual_seed(0)
    model = MultVAE(dataset, graph, hidden_dim=16, latent_dim=4, dropout=0.0)

    losses = epoch_losses(model, dataset, epochs=40, batch_size=6, learning_rate=0.01)

    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])


def test_multvae_rejects_bad_dropout(data):
    dataset, graph = data
    with pytest.raises(ConfigError, match="dropout"):
        MultVAE(dataset, graph, dropout=1.0)


# NeuMF


def fixed_neumf(dataset, graph) -> NeuMF:
    """Build a NeuMF with GMF size 2, MLP embedding size 1, MLP layers [2, 1] and hand-set weights."""
    model = NeuMF(dataset, graph, mf_embedding_dim=2, mlp_embedding_dim=1, mlp_hidden_sizes=[2, 1], dropout=0.0)
    with torch.no_grad():
        model.user_gmf.weight[0] = torch.tensor([1.0, 2.0])
        model.item_gmf.weight[0] = torch.tensor([3.0, -1.0])
        model.item_gmf.weight[1] = torch.tensor([0.0, 1.0])
        model.user_mlp.weight[0] = torch.tensor([1.0])
        model.item_mlp.weight[0] = torch.tensor([2.0])
        model.item_mlp.weight[1] = torch.tensor([-4.0])
        model.mlp_user_in.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model.mlp_user_in.bias.copy_(torch.tensor([0.0, 0.5]))
        model.mlp_item_in.weight.copy_(torch.tensor([[0.5], [1.0]]))
        model.mlp_upper[0].weight.copy_(torch.tensor([[1.0, -1.0]]))
        model.mlp_upper[0].bias.copy_(torch.tensor([0.5]))
        model.output.weight.copy_(torch.tensor([[0.5, 0.25, 2.0]]))
        model.output.bias.copy_(torch.tensor([-1.0]))
    return model.eval()


def test_neumf_logit_fixed_weights(data):
    model = fixed_neumf(*data)

    # Item 0: GMF [1*3, 2*(-1)] = [3, -2]. The first MLP layer on [1; 2] gives
    # relu([1 + 0.5*2, -1 + 0.5 + 2]) = [2, 1.5], the second relu(2 - 1.5 + 0.5) = 1.
    # Output: 0.5*3 + 0.25*(-2) + 2*1 - 1 = 2.
    # Item 1: GMF [0, 2]. The first layer on [1; -4] gives relu([1 - 2, -1 + 0.5 - 4]) = [0, 0],
    # the second relu(0.5) = 0.5. Output: 0.25*2 + 2*0.5 - 1 = 0.5.
    with torch.no_grad():
        logits = model.logits(torch.tensor([0, 0]), torch.tensor([0, 1]))
        scores = model.score(torch.tensor([0]))

    assert torch.allclose(logits, torch.tensor([2.0, 0.5]))
    assert torch.allclose(scores[0, :2], torch.tensor([2.0, 0.5]))


def test_neumf_loss_by_hand(data):
    model = fixed_neumf(*data)

    # Positive (user 0, item 0) has logit 2 and negative (user 0, item 1) has
    # logit 0.5, so the log loss is mean(log(1 + e^-2), log(1 + e^0.5)).
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(0.5))) / 2
    with torch.no_grad():
        loss = model.loss(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]), None)
    assert math.isclose(float(loss), expected, rel_tol=1e-6)


def test_neumf_score_matches_pair_logits(data):
    dataset, graph = data
    torch.manual_seed(0)
    model = NeuMF(dataset, graph, mf_embedding_dim=4, mlp_embedding_dim=4, mlp_hidden_sizes=[8, 4, 2]).eval()
    users = torch.arange(dataset.n_users)

    with torch.no_grad():
        scores = model.score(users)
        pairs = model.logits(users[:, None].expand(-1, dataset.n_items), torch.arange(dataset.n_items).expand(dataset.n_users, -1))

    assert torch.allclose(scores, pairs, atol=1e-6)


def test_neumf_training_lowers_loss(data):
    dataset, graph = data
    torch.manual_seed(0)
    model = NeuMF(dataset, graph, mf_embedding_dim=8, mlp_embedding_dim=8, mlp_hidden_sizes=[16, 8], dropout=0.0)

    losses = epoch_losses(model, dataset, epochs=40, batch_size=8, learning_rate=0.01)

    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


# NGCF


def test_ngcf_layer_two_by_two_by_hand():
    # Users 0, 1 and items 0, 1 with edges (0, 0), (0, 1), (1, 1). Degrees are
    # user 0: 2, user 1: 1, item 0: 1, item 1: 2, so the edge weights are
    # 1/sqrt(2), 1/2 and 1/sqrt(2).
    graph = dgl.heterograph({("user", "interacts", "item"): (torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1]))})
    adjacency = LightGCNConv(graph)
    layer = NGCFLayer(1, 1)
    with torch.no_grad():
        layer.sum_linear.weight.fill_(0.5)
        layer.sum_linear.bias.fill_(0.1)
        layer.product_linear.weight.fill_(0.25)
        layer.product_linear.bias.fill_(0.0)
    user = torch.tensor([[1.0], [-2.0]])
    item = torch.tensor([[3.0], [4.0]])

    with torch.no_grad():
        user_neighbours, item_neighbours = adjacency(user, item)
        user_out, item_out = layer(user, user_neighbours), layer(item, item_neighbours)

    r2 = math.sqrt(2.0)
    m_u0, m_u1 = 3 / r2 + 4 / 2, 4 / r2
    m_i0, m_i1 = 1 / r2, 1 / 2 - 2 / r2
    # 0.5 (m + e) + 0.1 + 0.25 m e, then LeakyReLU with slope 0.2. For user 1
    # this is sqrt(2) - 1 + 0.1 - sqrt(2) = -0.9, which becomes -0.18.
    expected_user = [0.5 * (m_u0 + 1) + 0.1 + 0.25 * m_u0 * 1, 0.2 * (0.5 * (m_u1 - 2) + 0.1 + 0.25 * m_u1 * -2)]
    expected_item = [0.5 * (m_i0 + 3) + 0.1 + 0.25 * m_i0 * 3, 0.5 * (m_i1 + 4) + 0.1 + 0.25 * m_i1 * 4]

    assert math.isclose(expected_user[1], -0.18, rel_tol=1e-9)
    assert np.allclose(to_numpy(user_out[:, 0]), expected_user, atol=1e-6)
    assert np.allclose(to_numpy(item_out[:, 0]), expected_item, atol=1e-6)


def test_ngcf_propagate_matches_dense(data):
    dataset, graph = data
    torch.manual_seed(0)
    model = NGCF(dataset, graph, embedding_dim=4, n_layers=2).eval()
    norm = dense_train_norm()

    def leaky(x):
        return np.where(x > 0, x, 0.2 * x)

    def unit_rows(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    user, item = to_numpy(model.user_emb.weight), to_numpy(model.item_emb.weight)
    user_parts, item_parts = [user], [item]
    for layer in model.layers:
        w1, b1 = to_numpy(layer.sum_linear.weight), to_numpy(layer.sum_linear.bias)
        w2, b2 = to_numpy(layer.product_linear.weight), to_numpy(layer.product_linear.bias)
        m_user, m_item = norm @ item, norm.T @ user
        user = unit_rows(leaky((m_user + user) @ w1.T + b1 + (m_user * user) @ w2.T + b2))
        item = unit_rows(leaky((m_item + item) @ w1.T + b1 + (m_item * item) @ w2.T + b2))
        user_parts.append(user)
        item_parts.append(item)

    with torch.no_grad():
        user_final, item_final = model.propagate()

    assert user_final.shape == (6, 12)
    assert np.allclose(to_numpy(user_final), np.concatenate(user_parts, axis=1), atol=1e-5)
    assert np.allclose(to_numpy(item_final), np.concatenate(item_parts, axis=1), atol=1e-5)


def test_ngcf_training_lowers_loss(data):
    dataset, graph = data
    torch.manual_seed(0)
    model = NGCF(dataset, graph, embedding_dim=8, n_layers=2)

    losses = epoch_losses(model, dataset, epochs=40, batch_size=8, learning_rate=0.01)

    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


@pytest.mark.parametrize("model_class", [NGCF, SimGCL])
def test_adjacency_contains_training_pairs_only(data, model_class):
    dataset, graph = data
    model = model_class(dataset, graph, embedding_dim=4)
    conv = model.adjacency if model_class is NGCF else model.conv

    matrix = to_numpy(conv.item_to_user.matrix.to_dense())
    nonzero = {(int(u), int(i)) for u, i in zip(*np.nonzero(matrix))}

    assert nonzero == train_pairs()
    # Raw user 1's valid item 105 and test item 106 carry no edge.
    assert matrix[0, 4] == 0.0
    assert matrix[0, 5] == 0.0
    assert np.allclose(matrix, dense_train_norm(), atol=1e-6)


# SimGCL


def test_info_nce_by_hand():
    identity = torch.eye(2, dtype=torch.float64)
    # Logits [[2, 0], [0, 2]] at temperature 0.5: each row loses log(1 + e^-2).
    assert math.isclose(float(info_nce(identity, identity, 0.5)), 2 * math.log1p(math.exp(-2.0)), rel_tol=1e-12)

    view_a = torch.tensor([[3.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    view_b = torch.tensor([[1.0, 1.0], [0.0, 5.0]], dtype=torch.float64)
    # After normalisation the cosines are [[1/sqrt(2), 0], [1/sqrt(2), 1]], and the temperature is 0.2.
    c = 1 / math.sqrt(2.0) / 0.2
    row_0 = -(c - math.log(math.exp(c) + 1.0))
    row_1 = -(5.0 - math.log(math.exp(c) + math.exp(5.0)))
    assert math.isclose(float(info_nce(view_a, view_b, 0.2)), row_0 + row_1, rel_tol=1e-12)


def test_perturb_noise_length_and_sign():
    torch.manual_seed(0)
    embeddings = torch.randn(50, 8)

    noise = perturb(embeddings, 0.1) - embeddings

    assert torch.allclose(noise.norm(dim=1), torch.full((50,), 0.1), atol=1e-6)
    assert bool(((noise * embeddings) >= 0).all())


def test_simgcl_contrast_without_noise_matches_dense(data):
    dataset, graph = data
    torch.manual_seed(0)
    model = SimGCL(dataset, graph, embedding_dim=4, n_layers=2, eps=0.0, temperature=0.2)
    norm = dense_train_norm()

    # With eps = 0 both views are the mean of propagated layers 1 and 2 (layer 0 left out).
    user, item = to_numpy(model.user_emb.weight), to_numpy(model.item_emb.weight)
    user_1, item_1 = norm @ item, norm.T @ user
    user_2, item_2 = norm @ item_1, norm.T @ user_1
    user_view, item_view = (user_1 + user_2) / 2, (item_1 + item_2) / 2

    def dense_info_nce(vectors):
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        logits = unit @ unit.T / 0.2
        return float(-(np.diag(logits) - np.log(np.exp(logits).sum(axis=1))).sum())

    # Users [0, 0, 2] and items [1, 3, 3] contrast as distinct sets {0, 2} and {1, 3}.
    expected = dense_info_nce(user_view[[0, 2]]) + dense_info_nce(item_view[[1, 3]])
    with torch.no_grad():
        actual = model.contrastive_loss(torch.tensor([0, 0, 2]), torch.tensor([1, 3, 3]))

    assert math.isclose(float(actual), expected, rel_tol=1e-5)


def test_simgcl_training_lowers_loss(data):
    dataset, graph = data
    torch.manual_seed(0)
    model = SimGCL(dataset, graph, embedding_dim=8)

    losses = epoch_losses(model, dataset, epochs=40, batch_size=8, learning_rate=0.01)

    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5])


def test_simgcl_rejects_zero_layers(data):
    dataset, graph = data
    with pytest.raises(ConfigError, match="n_layers"):
        SimGCL(dataset, graph, n_layers=0)


# Config


def test_neural_config_uses_model_defaults():
    config = load_config(CONFIG)

    assert [model.name for model in config.models] == ["mult-vae", "neumf", "ngcf", "simgcl"]
    for model in config.models:
        defaults = {name: p.default for name, p in hyperparameters(get_model_class(model.name)).items()}
        defaults = {name: list(value) if isinstance(value, tuple) else value for name, value in defaults.items()}
        assert model.params == defaults, model.name
