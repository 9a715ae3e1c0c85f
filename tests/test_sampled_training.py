"""Tests for neighbour-sampled LightGCN: exact blocks with all neighbours, unbiased sampling, training."""

from __future__ import annotations

import dgl
import numpy as np
import pytest
import torch

from graphrec.data.dataset import build_dataset
from graphrec.data.scenarios import assign_scenarios
from graphrec.data.split import TRAIN
from graphrec.data.synthetic import SyntheticConfig, generate_synthetic
from graphrec.errors import ConfigError
from graphrec.experiments.config import TrainConfig
from graphrec.graph.build import build_graph
from graphrec.models.lightgcn_sampled import SampledLightGCN
from graphrec.models.registry import build_model
from graphrec.train.sampled_trainer import NeighbourSampledBatches, block_weights, propagate_blocks
from graphrec.train.trainer import Trainer

N_LAYERS = 2
DIM = 8


@pytest.fixture(scope="module")
def dataset():
    config = SyntheticConfig(n_users=120, n_items=160, n_interactions=2_400, n_scenarios=2, n_topics=4, seed=3)
    raw = generate_synthetic(config)
    return build_dataset(raw, assign_scenarios("column:scenario", raw), (0.8, 0.1, 0.1), 2020)


@pytest.fixture(scope="module")
def graph(dataset):
    return build_graph(dataset)


def dense_lightgcn(dataset, user_emb: np.ndarray, item_emb: np.ndarray, n_layers: int) -> np.ndarray:
    """LightGCN's layer mean computed with a dense adjacency matrix, rows users then items."""
    train = dataset.splits == TRAIN
    adjacency = np.zeros((dataset.n_users, dataset.n_items))
    np.add.at(adjacency, (dataset.users[train], dataset.items[train]), 1.0)
    user_degree = adjacency.sum(1)
    item_degree = adjacency.sum(0)
    with np.errstate(divide="ignore"):
        norm = adjacency / np.sqrt(np.outer(user_degree, item_degree))
    norm[adjacency == 0] = 0.0

    user, item = user_emb, item_emb
    user_total, item_total = user.copy(), item.copy()
    for _ in range(n_layers):
        user, item = norm @ item, norm.T @ user
        user_total += user
        item_total += item
    return np.concatenate([user_total, item_total]) / (n_layers + 1)


def first_batch(dataset, graph, fanouts, seed: int = 0, batch_size: int = 200):
    batches = NeighbourSampledBatches(dataset, graph, fanouts, N_LAYERS)
    return batches, next(batches.epoch(np.random.default_rng(seed), batch_size))


@pytest.mark.parametrize("fanouts", [None, [-1, -1], [1000, 1000]], ids=["none", "minus-one", "above-max-degree"])
def test_all_neighbour_blocks_equal_dense_lightgcn(dataset, graph, fanouts):
    torch.manual_seed(0)
    model = SampledLightGCN(dataset, graph, embedding_dim=DIM, n_layers=N_LAYERS, fanouts=fanouts)
    batches, batch = first_batch(dataset, graph, fanouts)
    with torch.no_grad():
        sampled = propagate_blocks(model.layer0(batch.input_nodes), batch.blocks, batches.graph.ndata["degree"])
    expected = dense_lightgcn(
        dataset, model.user_emb.weight.detach().numpy(), model.item_emb.weight.detach().numpy(), N_LAYERS
    )
    outputs = batch.blocks[-1].dstdata[dgl.NID].numpy()
    np.testing.assert_allclose(sampled.numpy(), expected[outputs], rtol=1e-5, atol=1e-6)


def test_all_neighbour_blocks_equal_full_graph_model(dataset, graph):
    torch.manual_seed(0)
    model = SampledLightGCN(dataset, graph, embedding_dim=DIM, n_layers=N_LAYERS)
    batches, batch = first_batch(dataset, graph, None)
    with torch.no_grad():
        sampled = propagate_blocks(model.layer0(batch.input_nodes), batch.blocks, batches.graph.ndata["degree"])
        user, item = model.propagate()
    full = torch.cat([user, item])[batch.blocks[-1].dstdata[dgl.NID]]
    torch.testing.assert_close(sampled, full, rtol=1e-5, atol=1e-6)


def test_batch_rows_point_at_triples(dataset, graph):
    batches, batch = first_batch(dataset, graph, [3, 3])
    outputs = batch.blocks[-1].dstdata[dgl.NID]
    assert torch.equal(outputs[batch.user_rows], batch.users)
    assert torch.equal(outputs[batch.pos_rows], batch.pos_items + dataset.n_users)
    assert torch.equal(outputs[batch.neg_rows], batch.neg_items + dataset.n_users)
    assert torch.equal(batch.input_nodes[: batch.n_outputs], outputs)


def test_sampled_block_respects_fanout(dataset, graph):
    _, batch = first_batch(dataset, graph, [2, 3])
    assert int(batch.blocks[0].in_degrees().max()) <= 2
    assert int(batch.blocks[1].in_degrees().max()) <= 3


def test_sampled_weights_unbiased_for_one_layer(dataset, graph):
    """Averaged over 300 samples of 2 neighbours, one sampled step approaches the full-graph step.

    The users here have 10 to 32 neighbours, so a sum without the
    ``|N(v)| / k`` factor would come out 5 to 16 times too small.
    """
    homogeneous = NeighbourSampledBatches(dataset, graph, [2], 1).graph
    degree = homogeneous.ndata["degree"]
    values = torch.randn(homogeneous.num_nodes(), 1, generator=torch.Generator().manual_seed(0))
    seeds = torch.arange(0, 20)
    full_block = dgl.to_block(dgl.sampling.sample_neighbors(homogeneous, seeds, -1), seeds)
    expected = propagate_blocks(values[full_block.srcdata[dgl.NID]], [full_block], degree)

    dgl.seed(0)
    draws = 300
    total = torch.zeros_like(expected)
    for _ in range(draws):
        block = dgl.to_block(dgl.sampling.sample_neighbors(homogeneous, seeds, 2), seeds)
        total += propagate_blocks(values[block.srcdata[dgl.NID]], [block], degree)
    # Layer 0 is exact, so the two differ only by sampling noise, which
    # stayed below 0.04 for this seed (the values average 0.4 in size).
    torch.testing.assert_close(total / draws, expected, atol=0.1, rtol=0.0)


def test_block_weights_scale_by_kept_share():
    # Destination 0 has 4 neighbours in the full graph (degree 4) but keeps 2;
    # both sources have degree 1, so each weight is 1 / sqrt(1 * 4) * 4 / 2 = 1.
    block = dgl.create_block((torch.tensor([0, 1]), torch.tensor([0, 0])), num_src_nodes=2, num_dst_nodes=1)
    block.srcdata[dgl.NID] = torch.tensor([5, 6])
    block.dstdata[dgl.NID] = torch.tensor([5])
    degree = torch.zeros(7)
    degree[5], degree[6] = 4.0, 1.0
    # Source 5 is also the destination, with degree 4: 1 / sqrt(4 * 4) * 2 = 0.5.
    assert block_weights(block, degree).tolist() == [0.5, 1.0]


def test_short_training_lowers_loss(dataset, graph):
    torch.manual_seed(0)
    model = SampledLightGCN(dataset, graph, embedding_dim=DIM, n_layers=N_LAYERS, fanouts=[5, 5])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    losses = [model.train_epoch(dataset, optimizer, rng, 256) for _ in range(8)]
    # An untrained model scores positives and negatives alike: BPR loss log 2 = 0.693.
    assert losses[0] == pytest.approx(np.log(2), abs=0.02)
    assert losses[-1] < losses[0] - 0.1


def test_same_seed_same_epoch(dataset, graph):
    # DGL samples neighbours in parallel with one generator per thread, so
    # only a single-threaded run repeats exactly.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        model = SampledLightGCN(dataset, graph, embedding_dim=DIM, n_layers=N_LAYERS, fanouts=[3, 3])
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        losses.append(model.train_epoch(dataset, optimizer, np.random.default_rng(7), 256))
    torch.set_num_threads(threads)
    assert losses[0] == losses[1]


def test_trainer_runs_sampled_model_with_checkpoints(dataset, graph, tmp_path):
    torch.manual_seed(0)
    model = build_model("lightgcn-sampled", {"embedding_dim": DIM, "n_layers": N_LAYERS, "fanouts": [4, 4]}, dataset, graph)
    trainer = Trainer(TrainConfig(epochs=3, batch_size=256, learning_rate=0.01), seed=0, progress=False)
    result = trainer.fit(model, dataset, checkpoint_dir=tmp_path)
    assert result.epochs_run == 3
    assert (tmp_path / "best.pt").exists()
    assert (tmp_path / "last.pt").exists()
    assert model.score(torch.arange(5)).shape == (5, dataset.n_items)


def test_score_uses_full_graph_propagation(dataset, graph):
    torch.manual_seed(0)
    model = SampledLightGCN(dataset, graph, embedding_dim=DIM, n_layers=N_LAYERS, fanouts=[2, 2])
    expected = dense_lightgcn(
        dataset, model.user_emb.weight.detach().numpy(), model.item_emb.weight.detach().numpy(), N_LAYERS
    )
    users = torch.arange(10)
    scores = model.score(users)
    item_rows = expected[dataset.n_users :]
    np.testing.assert_allclose(scores.detach().numpy(), expected[:10] @ item_rows.T, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fanouts", [[5], [5, 0], [5, -2]])
def test_invalid_fanouts_rejected(dataset, graph, fanouts):
    with pytest.raises(ConfigError, match="fanouts"):
        SampledLightGCN(dataset, graph, n_layers=N_LAYERS, fanouts=fanouts)
