"""NGCF: neural graph collaborative filtering on the training graph.

Wang, He, Wang, Feng and Chua, "Neural Graph Collaborative Filtering",
SIGIR 2019. With ``L = D^-1/2 A D^-1/2`` the symmetrically normalised
user-item adjacency of the training interactions, one layer computes, in
the paper's matrix form:

    E^(l) = LeakyReLU( (L + I) E^(l-1) W_1 + (L E^(l-1)) * E^(l-1) W_2 )

where ``*`` is the element-wise product, ``W_1`` and ``W_2`` (with biases)
are shared by users and items, and LeakyReLU has negative slope 0.2. Message dropout
then acts on ``E^(l)``, and the final representation concatenates the layers,
``e* = [e^(0); e^(1); ...; e^(L)]``. The score is ``<e*_u, e*_i>`` and training
minimises the BPR loss plus ``reg_weight`` times half the squared L2 norm of
the batch's final representations (per batch row), as the authors' code does.

As in RecBole-GNN's NGCF, each layer's output is L2-normalised per row
before it is stored and passed to the next layer. The defaults are those
behind RecBole-GNN's ml-1m NGCF result (results/general/ml-1m.md in the
RecBole-GNN repository): RecBole's NGCF config (64-wide embeddings, three
64-wide layers, ``reg_weight`` 1e-5) with message dropout 0.0 in place of the
config's 0.1. Node dropout is 0.0 in both, and this module has none.
NOTE: the authors' TensorFlow code passes the un-normalised output to the
next layer and normalises only the stored copy. This module follows RecBole-GNN.

The adjacency comes from the ``interacts`` edges of the heterograph, which
:func:`graphrec.graph.build.build_graph` builds from training interactions
only, and runs as sparse CSR products (:class:`graphrec.nn.lightgcn.LightGCNConv`).
"""

from __future__ import annotations

import dgl
import torch
import torch.nn.functional as F
from torch import nn

from graphrec.data.dataset import RecDataset
from graphrec.errors import ConfigError
from graphrec.models.base import Recommender, bpr_loss, l2_penalty
from graphrec.models.registry import register_model
from graphrec.nn.lightgcn import LightGCNConv


class NGCFLayer(nn.Module):
    """One NGCF transform ``LeakyReLU(W_1 (m + e) + W_2 (m * e))`` of a node's embedding ``e``.

    ``m = (L E)_v`` is the node's normalised neighbour sum, which the caller
    computes with the sparse adjacency. The same layer serves users and items.
    """

    def __init__(self, in_dim: int, out_dim: int, negative_slope: float = 0.2):
        super().__init__()
        self.sum_linear = nn.Linear(in_dim, out_dim)
        self.product_linear = nn.Linear(in_dim, out_dim)
        self.negative_slope = negative_slope

    def forward(self, own: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
        out = self.sum_linear(neighbours + own) + self.product_linear(neighbours * own)
        return F.leaky_relu(out, self.negative_slope)


@register_model("ngcf")
class NGCF(Recommender):
    """NGCF (Wang et al., SIGIR 2019) with BPR loss on the training graph.

    Args:
        embedding_dim: size of the layer-0 embeddings and of every layer's output.
        n_layers: number of propagation layers.
        message_dropout: dropout rate on each layer's output during training.
        reg_weight: weight of the L2 penalty on the batch's final representations.
    """

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        embedding_dim: int = 64,
        n_layers: int = 3,
        message_dropout: float = 0.0,
        reg_weight: float = 1e-5,
    ):
        super().__init__(dataset, graph)
        if embedding_dim < 1:
            raise ConfigError(f"ngcf: embedding_dim must be a positive integer, got {embedding_dim}")
        if n_layers < 0:
            raise ConfigError(f"ngcf: n_layers must be >= 0, got {n_layers}")
        if not 0.0 <= message_dropout < 1.0:
            raise ConfigError(f"ngcf: message_dropout must be in [0, 1), got {message_dropout}")
        self.reg_weight = reg_weight
        self.user_emb = nn.Embedding(dataset.n_users, embedding_dim)
        self.item_emb = nn.Embedding(dataset.n_items, embedding_dim)
        self.adjacency = LightGCNConv(graph)
        self.layers = nn.ModuleList(NGCFLayer(embedding_dim, embedding_dim) for _ in range(n_layers))
        self.message_dropout = nn.Dropout(message_dropout)
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw Glorot-normal embeddings and weights with zero biases, as RecBole does."""
        nn.init.xavier_normal_(self.user_emb.weight)
        nn.init.xavier_normal_(self.item_emb.weight)
        for layer in self.layers:
            for linear in (layer.sum_linear, layer.product_linear):
                nn.init.xavier_normal_(linear.weight)
                nn.init.zeros_(linear.bias)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the concatenated user and item representations ``[N, (n_layers + 1) * embedding_dim]``."""
        user, item = self.user_emb.weight, self.item_emb.weight
        user_layers, item_layers = [user], [item]
        for layer in self.layers:
            user_neighbours, item_neighbours = self.adjacency(user, item)
            user = F.normalize(self.message_dropout(layer(user, user_neighbours)), dim=1)
            item = F.normalize(self.message_dropout(layer(item, item_neighbours)), dim=1)
            user_layers.append(user)
            item_layers.append(item)
        return torch.cat(user_layers, dim=1), torch.cat(item_layers, dim=1)

    def loss(self, users, pos_items, neg_items, scenarios):
        self._cache = None
        user_final, item_final = self.propagate()
        u, pos, neg = user_final[users], item_final[pos_items], item_final[neg_items]
        ranking = bpr_loss((u * pos).sum(1), (u * neg).sum(1))
        return ranking + self.reg_weight * l2_penalty(u, pos, neg)

    @torch.no_grad()
    def prepare_scoring(self) -> None:
        self._cache = self.propagate()

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        if self._cache is None:
            self.prepare_scoring()
        user_final, item_final = self._cache
        return user_final[users] @ item_final.T
