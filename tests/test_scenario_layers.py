"""Tests for the scenario-aware layers relation-conv and scenario-attention.

The toy graph has two users, three items and two scenarios, with the
training edges (user, item, scenario):

    (u0, i0, s0), (u0, i1, s1), (u1, i1, s0), (u1, i2, s1)

Degrees are u0: 2, u1: 2, i0: 1, i1: 2, i2: 1, so the LightGCN edge weights
1 / sqrt(deg(u) deg(i)) are 1/sqrt(2) = 0.70711 for (u0, i0) and (u1, i2) and
1/2 for the two edges of i1. Every expected value below is worked out by
hand from these numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import dgl
import numpy as np
import pandas as pd
import pytest
import torch

from helpers import tiny_dataset, write_synthetic_ml100k

from graphrec.cli import main
from graphrec.data.split import TRAIN
from graphrec.graph.build import build_graph
from graphrec.models.lightgcn import LightGCN
from graphrec.models.scenario_gnn import ScenarioGNN
from graphrec.nn.registry import get_layer
from graphrec.nn.relation_conv import RelationConv
from graphrec.nn.scenario import ScenarioConv
from graphrec.nn.scenario_attention import EdgeIndex, ScenarioAttentionConv, edge_dot, edge_sum, segment_softmax
from graphrec.nn.scenario_parts import ScenarioNodes

NEW_LAYERS = ["relation-conv", "scenario-attention"]
R2 = 1 / math.sqrt(2)


def toy_graph() -> dgl.DGLGraph:
    """Build the toy heterograph of the module docstring, with scenario nodes."""
    users = torch.tensor([0, 0, 1, 1])
    items = torch.tensor([0, 1, 1, 2])
    scenarios = torch.tensor([0, 1, 0, 1])
    # (node, scenario) pairs with their interaction counts, all 1 here.
    user_sc = (torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]))
    item_sc = (torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 0, 1]))
    graph = dgl.heterograph(
        {
            ("user", "interacts", "item"): (users, items),
            ("item", "interacted_by", "user"): (items, users),
            ("user", "active_in", "scenario"): user_sc,
            ("scenario", "includes_user", "user"): (user_sc[1], user_sc[0]),
            ("item", "appears_in", "scenario"): item_sc,
            ("scenario", "includes_item", "item"): (item_sc[1], item_sc[0]),
        },
        num_nodes_dict={"user": 2, "item": 3, "scenario": 2},
    )
    for etype in ("interacts", "interacted_by"):
        graph.edges[etype].data["scenario"] = scenarios
        graph.edges[etype].data["weight"] = torch.ones(4)
    for etype in ("active_in", "includes_user", "appears_in", "includes_item"):
        graph.edges[etype].data["weight"] = torch.ones(4)
    return graph


USER_EMB = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
ITEM_EMB = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
SCENARIO_EMB = torch.zeros(2, 2)


def test_new_layer_names_resolve():
    assert get_layer("relation-conv") is RelationConv
    assert get_layer("scenario-attention") is ScenarioAttentionConv


def test_relation_conv_forward_by_hand():
    layer = RelationConv(toy_graph(), embedding_dim=2, scenario_nodes=False)
    with torch.no_grad():
        layer.weight[0, 0] = torch.tensor([[1.0, 2.0], [0.0, 1.0]])  # item to user, s0
        layer.weight[0, 1] = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # item to user, s1
        layer.weight[1, 0] = torch.tensor([[2.0, 0.0], [0.0, 1.0]])  # user to item, s0
        layer.weight[1, 1] = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # user to item, s1

    user_parts, item_parts, user_ctx, item_ctx, _ = layer(USER_EMB, ITEM_EMB, SCENARIO_EMB)

    # u0, s0: W[0,0] (0.70711 * (1, 0)) = (0.70711, 0).  u0, s1: W[0,1] (0.5 * (0, 2)) = (1, 0).
    # u1, s0: W[0,0] (0.5 * (0, 2)) = (2, 1).  u1, s1: W[0,1] (0.70711 * (1, 1)) = (0.70711, 0.70711).
    expected_users = [[[R2, 0.0], [1.0, 0.0]], [[2.0, 1.0], [R2, R2]]]
    # i0, s0: W[1,0] (0.70711 * (1, 0)) = (1.41421, 0).  i1, s0: W[1,0] (0.5 * (0, 3)) = (0, 1.5).
    # i1, s1: W[1,1] (0.5 * (1, 0)) = (0.5, 0.5).  i2, s1: W[1,1] (0.70711 * (0, 3)) = (0, 2.12132).
    expected_items = [[[2 * R2, 0.0], [0.0, 0.0]], [[0.0, 1.5], [0.5, 0.5]], [[0.0, 0.0], [0.0, 3 * R2]]]
    assert torch.allclose(user_parts, torch.tensor(expected_users), atol=1e-5)
    assert torch.allclose(item_parts, torch.tensor(expected_items), atol=1e-5)
    assert torch.equal(user_ctx, torch.zeros(2, 2))
    assert torch.equal(item_ctx, torch.zeros(3, 2))


def test_scenario_attention_forward_by_hand():
    layer = ScenarioAttentionConv(toy_graph(), embedding_dim=2, scenario_nodes=False)
    with torch.no_grad():
        layer.query.copy_(torch.eye(2).expand(2, 2, 2, 2))
        layer.key.zero_()
        layer.key[0, 0] = math.sqrt(2) * math.log(3) * torch.eye(2)  # item to user, s0
        layer.key[0, 1] = 2 * math.log(2) * torch.eye(2)  # item to user, s1

    user_parts, item_parts, _, _, _ = layer(USER_EMB, ITEM_EMB, SCENARIO_EMB)

    # Unit inputs: u0 (1, 0), u1 (0, 1), i0 (1, 0), i1 (0, 1), i2 (0.70711, 0.70711).
    # Logits (divided by sqrt(2)): u0-i0 (s0) ln 3, u0-i1 (s1) 0, u1-i1 (s0) ln 3, u1-i2 (s1) ln 2.
    # Softmax: u0 (3/4, 1/4), u1 (3/5, 2/5). Times sqrt(deg(u) / deg(i)):
    # u0-i0 0.75 * sqrt(2) = 1.06066, u0-i1 0.25, u1-i1 0.6, u1-i2 0.4 * sqrt(2) = 0.56569.
    expected_users = [[[0.75 * math.sqrt(2), 0.0], [0.0, 0.5]], [[0.0, 1.2], [0.4 * math.sqrt(2), 0.4 * math.sqrt(2)]]]
    # Item keys are zero, so the items receive LightGCN's per-scenario sums:
    # i0 s0 0.70711 * (1, 0), i1 s0 0.5 * (0, 3), i1 s1 0.5 * (1, 0), i2 s1 0.70711 * (0, 3).
    expected_items = [[[R2, 0.0], [0.0, 0.0]], [[0.0, 1.5], [0.5, 0.0]], [[0.0, 0.0], [0.0, 3 * R2]]]
    assert torch.allclose(user_parts, torch.tensor(expected_users), atol=1e-5)
    assert torch.allclose(item_parts, torch.tensor(expected_items), atol=1e-5)


def test_segment_softmax_by_hand():
    logits = torch.tensor([0.0, math.log(3), math.log(2), 5.0])

    weights = segment_softmax(logits, torch.tensor([0, 0, 1, 2]), 3)

    # Group 0 contains exp(0) and exp(ln 3), so 1/4 and 3/4. Groups 1 and 2 contain one entry each.
    assert torch.allclose(weights, torch.tensor([0.25, 0.75, 1.0, 1.0]), atol=1e-6)


# Edges of a [3, 4] matrix in an order that is neither row- nor column-sorted.
EDGE_ROWS = torch.tensor([2, 0, 1, 0, 2])
EDGE_COLS = torch.tensor([1, 3, 0, 0, 3])


def test_edge_index_matrices():
    index = EdgeIndex(EDGE_ROWS, EDGE_COLS, (3, 4))
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])

    dense = index.matrix(values).to_dense()
    dense_t = index.matrix_t(values).to_dense()

    expected = torch.tensor([[4.0, 0.0, 0.0, 2.0], [3.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 5.0]])
    assert torch.equal(dense, expected)
    assert torch.equal(dense_t, expected.T)


def test_edge_kernels_gradients():
    index = EdgeIndex(EDGE_ROWS, EDGE_COLS, (3, 4))
    generator = torch.Generator().manual_seed(4)
    left = torch.randn(3, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    right = torch.randn(4, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    values = torch.randn(5, dtype=torch.float64, generator=generator, requires_grad=True)

    dots = edge_dot(index, left, right)
    sums = edge_sum(index, values, right)

    # Reference: gather and sum with plain indexing.
    assert torch.allclose(dots, (left[EDGE_ROWS] * right[EDGE_COLS]).sum(1))
    expected_sums = torch.zeros(3, 2, dtype=torch.float64).index_add(0, EDGE_ROWS, values[:, None] * right[EDGE_COLS])
    assert torch.allclose(sums, expected_sums)
    assert torch.autograd.gradcheck(lambda a, b: edge_dot(index, a, b), (left, right))
    assert torch.autograd.gradcheck(lambda v, b: edge_sum(index, v, b), (values, right))


@pytest.mark.parametrize("layer_name", NEW_LAYERS)
def test_gating_off_gives_lightgcn_sums(layer_name):
    layer = get_layer(layer_name)(toy_graph(), embedding_dim=2, gating=False, scenario_nodes=False)

    user_parts, item_parts, _, _, _ = layer(USER_EMB, ITEM_EMB, SCENARIO_EMB)

    # Summed over scenarios, the parts are one LightGCN step:
    # u0 = 0.70711 * i0 + 0.5 * i1 = (0.70711, 1); u1 = 0.5 * i1 + 0.70711 * i2 = (0.70711, 1.70711).
    assert torch.allclose(user_parts.sum(1), torch.tensor([[R2, 1.0], [R2, 1.0 + R2]]), atol=1e-5)
    assert all(not p.requires_grad for name, p in layer.named_parameters() if not name.startswith("context"))


def test_relation_conv_structure_penalty_by_hand():
    layer = RelationConv(toy_graph(), embedding_dim=2)
    assert float(layer.structure_penalty()) == 0.0

    with torch.no_grad():
        layer.weight[1, 0, 0, 1] = 2.0
        layer.context.beta_logits[0] = 1.0

    # (W - I) has one entry 2, and one context logit is 1: 4 + 1.
    assert float(layer.structure_penalty()) == pytest.approx(5.0)


def test_scenario_attention_structure_penalty_by_hand():
    layer = ScenarioAttentionConv(toy_graph(), embedding_dim=2)
    assert float(layer.structure_penalty()) == 0.0

    with torch.no_grad():
        layer.query.copy_(torch.eye(2).expand(2, 2, 2, 2))
        layer.key[0, 1] = 3.0 * torch.eye(2)

    # Q^T K = 3 I for one (direction, scenario): 9 + 9.
    assert float(layer.structure_penalty()) == pytest.approx(18.0)


def test_scenario_nodes_match_scenario_conv():
    dataset = tiny_dataset("age-group")
    graph = build_graph(dataset)
    generator = torch.Generator().manual_seed(3)
    user = torch.randn(dataset.n_users, 4, generator=generator)
    item = torch.randn(dataset.n_items, 4, generator=generator)
    scenario = torch.randn(dataset.n_scenarios, 4, generator=generator)
    reference = ScenarioConv(graph, 4)
    nodes = ScenarioNodes(graph)
    with torch.no_grad():
        reference.beta_logits.copy_(torch.tensor([0.3, -0.7]))
        nodes.beta_logits.copy_(torch.tensor([0.3, -0.7]))

    _, _, ref_user, ref_item, ref_state = reference(user, item, scenario)
    user_ctx, item_ctx, state = nodes(user, item, scenario)

    assert torch.allclose(user_ctx, ref_user, atol=1e-6)
    assert torch.allclose(item_ctx, ref_item, atol=1e-6)
    assert torch.allclose(state, ref_state, atol=1e-6)


@pytest.mark.parametrize("layer_name", NEW_LAYERS)
@pytest.mark.parametrize("spec", ["age-group", "genre-channel"])
def test_scenario_gnn_with_new_layer_starts_as_lightgcn(layer_name, spec):
    dataset = tiny_dataset(spec)
    graph = build_graph(dataset)
    torch.manual_seed(5)
    lightgcn = LightGCN(dataset, graph, embedding_dim=4, n_layers=2)
    model = ScenarioGNN(dataset, graph, embedding_dim=4, n_layers=2, layer=layer_name)
    with torch.no_grad():
        model.user_emb.weight.copy_(lightgcn.user_emb.weight)
        model.item_emb.weight.copy_(lightgcn.item_emb.weight)
        user_final, item_final = lightgcn.propagate()
        user_views, item_views = model.propagate()

    for s in range(dataset.n_scenarios):
        assert torch.allclose(user_views[:, s], user_final, atol=1e-6), f"user view {s}"
        assert torch.allclose(item_views[:, s], item_final, atol=1e-6), f"item view {s}"


def training_triples(dataset):
    """Return every training (user, item, negative, scenario) with a fixed negative per row."""
    train = dataset.splits == TRAIN
    users, items, scenarios = dataset.users[train], dataset.items[train], dataset.scenarios[train]
    seen = dataset.train_matrix.toarray() > 0
    rng = np.random.default_rng(0)
    negatives = np.array([rng.choice(np.flatnonzero(~seen[u])) for u in users])
    return tuple(torch.from_numpy(np.asarray(a, dtype=np.int64)) for a in (users, items, negatives, scenarios))


@pytest.mark.parametrize("layer_name", NEW_LAYERS)
def test_scenario_gnn_trains_with_new_layer(layer_name):
    dataset = tiny_dataset("age-group")
    torch.manual_seed(6)
    model = ScenarioGNN(dataset, build_graph(dataset), embedding_dim=8, n_layers=2, layer=layer_name, structure_reg=0.01)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    batch = training_triples(dataset)

    losses = []
    for _ in range(20):
        loss = model.loss(*batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))

    assert losses[-1] < 0.5 * losses[0]
    # The layer's own parameters moved away from the LightGCN start.
    assert all(float(conv.structure_penalty()) > 0 for conv in model.convs)


CONFIG = """
dataset: {name: ml-100k}
scenario: age-group
protocol: {seed: 7, ks: [10], metrics: [ndcg, recall], valid_metric: ndcg@10}
train: {epochs: 3, batch_size: 256, learning_rate: 0.01, patience: 5}
models:
  - name: scenario-gnn
    label: attention
    params: {embedding_dim: 8, n_layers: 2, layer: scenario-attention, structure_reg: 0.01}
  - name: scenario-gnn
    label: relation
    params: {embedding_dim: 8, n_layers: 2, layer: relation-conv, structure_reg: 0.01}
"""


def test_benchmark_config_selects_new_layers(tmp_path: Path):
    data_root = tmp_path / "data"
    write_synthetic_ml100k(data_root)
    config = tmp_path / "layers.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    output = tmp_path / "run"

    code = main(["benchmark", str(config), "--data-root", str(data_root), "--output", str(output), "--quiet"])

    assert code == 0
    metrics = pd.read_csv(output / "metrics.csv")
    test_ndcg = metrics[(metrics["split"] == "test") & (metrics["metric"] == "ndcg@10") & (metrics["scenario"] == "all")]
    assert sorted(test_ndcg["model"]) == ["attention", "relation"]
    assert test_ndcg["value"].between(0.0, 1.0).all()
    log = (output / "benchmark.log").read_text(encoding="utf-8")
    assert "ScenarioAttentionConv" in log
    assert "RelationConv" in log


def test_plain_layer_rejected_by_scenario_gnn():
    from graphrec.errors import ConfigError
    from graphrec.graph.build import build_graph
    from graphrec.models.registry import build_model
    from helpers import tiny_dataset

    dataset = tiny_dataset()
    with pytest.raises(ConfigError, match="not a scenario layer"):
        build_model("scenario-gnn", {"layer": "lightgcn"}, dataset, build_graph(dataset))
