"""HeteroGNN: a relation-typed graph baseline with one relation per scenario.

The training interactions of scenario ``s`` become two relations,
``(user, rates_s<s>, item)`` and ``(item, rated_by_s<s>, user)``, in a graph of
their own. Each relation has a DGL ``GraphConv`` with symmetric
normalisation (``norm="both"``), and ``HeteroGraphConv`` aggregates the
relations that end at a node type:

    e_u^(k+1) = AGG_s sum_{i in N_s(u)} W_s e_i^(k) / sqrt(|N_s(u)| |N_s(i)|)

and the same for items. ``N_s(v)`` is the set of ``v``'s neighbours through
training interactions in scenario ``s``. ``AGG`` is a sum or a mean over
the ``S`` relations into the node type (DGL's ``HeteroGraphConv``
aggregation, where the mean also counts relations in which the node has no
edge). This is the relational GCN scheme of Schlichtkrull et al.,
"Modeling Relational Data with Graph Convolutional Networks", ESWC 2018,
with LightGCN's normalisation and without non-linearity or self-loop.

Without relation weights (the default), ``W_s`` is the identity. With
``relation_weights=True`` every relation of every layer learns its own
``d x d`` matrix ``W_s``, initialised to the identity so that training starts
from the weight-free model.

As in LightGCN (He et al., SIGIR 2020, equation 4), the final
representation is the mean of layers ``0..K``, the score is ``<e_u, e_i>``,
and training uses the BPR loss with an L2 penalty on the batch's layer-0
embeddings. The scenario shapes message passing only, so the model has one
representation per user and item and scores every scenario alike.
"""

from __future__ import annotations

import dgl
import torch
from dgl.nn import GraphConv, HeteroGraphConv
from torch import nn

from graphrec.data.dataset import RecDataset
from graphrec.errors import ConfigError
from graphrec.models.base import Recommender, bpr_loss, l2_penalty
from graphrec.models.registry import register_model

AGGREGATIONS = ("sum", "mean")


def user_to_item_relation(scenario: int) -> str:
    """Return the edge type name of scenario ``scenario``'s user-to-item relation."""
    return f"rates_s{scenario}"


def item_to_user_relation(scenario: int) -> str:
    """Return the edge type name of scenario ``scenario``'s item-to-user relation."""
    return f"rated_by_s{scenario}"


def scenario_relation_graph(graph: dgl.DGLGraph, n_scenarios: int) -> dgl.DGLGraph:
    """Build the user-item graph with one pair of relations per scenario.

    The edges are the ``interacts`` edges of ``graph`` (the training
    interactions, see :func:`graphrec.graph.build.build_graph`), split by
    their ``scenario`` edge data. A scenario without training interactions
    gets two relations without edges.
    """
    users, items = graph.edges(etype="interacts")
    scenarios = graph.edges["interacts"].data["scenario"]

    relations = {}
    for s in range(n_scenarios):
        keep = scenarios == s
        relations[("user", user_to_item_relation(s), "item")] = (users[keep], items[keep])
        relations[("item", item_to_user_relation(s), "user")] = (items[keep], users[keep])
    sizes = {"user": graph.num_nodes("user"), "item": graph.num_nodes("item")}
    return dgl.heterograph(relations, num_nodes_dict=sizes)


@register_model("hetero-gnn")
class HeteroGNN(Recommender):
    """Relation-typed GNN with one user-to-item and one item-to-user relation per scenario.

    Args:
        embedding_dim: size of the layer-0 embeddings.
        n_layers: number of propagation steps K.
        reg_weight: weight of the L2 penalty on the batch's layer-0 embeddings.
        aggregate: ``"sum"`` or ``"mean"`` over the relations into a node type.
        relation_weights: learn a ``d x d`` matrix per relation and layer
            (identity at the start). The L2 penalty does not cover them.
    """

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        embedding_dim: int = 64,
        n_layers: int = 3,
        reg_weight: float = 1e-4,
        aggregate: str = "sum",
        relation_weights: bool = False,
    ):
        super().__init__(dataset, graph)
        if aggregate not in AGGREGATIONS:
            raise ConfigError(f"invalid aggregate {aggregate!r} for hetero-gnn. Set it to one of: {', '.join(AGGREGATIONS)}")
        self.n_layers = n_layers
        self.reg_weight = reg_weight
        self.relation_graph = scenario_relation_graph(graph, dataset.n_scenarios)
        self.user_emb = nn.Embedding(dataset.n_users, embedding_dim)
        self.item_emb = nn.Embedding(dataset.n_items, embedding_dim)
        self.convs = nn.ModuleList(
            self._make_layer(embedding_dim, aggregate, relation_weights) for _ in range(n_layers)
        )
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.reset_parameters()

    def _make_layer(self, embedding_dim: int, aggregate: str, relation_weights: bool) -> HeteroGraphConv:
        convs = {
            etype: GraphConv(
                embedding_dim,
                embedding_dim,
                norm="both",
                weight=relation_weights,
                bias=False,
                allow_zero_in_degree=True,
            )
            for etype in self.relation_graph.etypes
        }
        return HeteroGraphConv(convs, aggregate=aggregate)

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.user_emb.weight)
        nn.init.xavier_normal_(self.item_emb.weight)
        for layer in self.convs:
            for conv in layer.mods.values():
                if conv.weight is not None:
                    nn.init.eye_(conv.weight)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the final user and item representations (mean over layers 0..K)."""
        features = {"user": self.user_emb.weight, "item": self.item_emb.weight}
        user_sum, item_sum = features["user"], features["item"]
        for layer in self.convs:
            features = layer(self.relation_graph, features)
            user_sum = user_sum + features["user"]
            item_sum = item_sum + features["item"]
        return user_sum / (self.n_layers + 1), item_sum / (self.n_layers + 1)

    def loss(self, users, pos_items, neg_items, scenarios):
        self._cache = None
        user_final, item_final = self.propagate()
        u = user_final[users]
        ranking = bpr_loss((u * item_final[pos_items]).sum(1), (u * item_final[neg_items]).sum(1))
        penalty = l2_penalty(self.user_emb(users), self.item_emb(pos_items), self.item_emb(neg_items))
        return ranking + self.reg_weight * penalty

    @torch.no_grad()
    def prepare_scoring(self) -> None:
        self._cache = self.propagate()

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        if self._cache is None:
            self.prepare_scoring()
        user_final, item_final = self._cache
        return user_final[users] @ item_final.T
