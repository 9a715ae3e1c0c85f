"""LightGCN (He et al., SIGIR 2020).

Embeddings propagate with :class:`graphrec.nn.lightgcn.LightGCNConv` for
``n_layers`` steps and the final representation is the mean over layers,
``e = 1/(K+1) sum_k e^(k)`` (equation 4 of the paper, with alpha_k = 1/(K+1)).
The score is ``<e_u, e_i>`` and training uses the BPR loss with an L2 penalty
on the layer-0 embeddings of the batch.
"""

from __future__ import annotations

import dgl
import torch
from torch import nn

from graphrec.data.dataset import RecDataset
from graphrec.models.base import Recommender, bpr_loss, l2_penalty
from graphrec.models.registry import register_model
from graphrec.nn.lightgcn import LightGCNConv


@register_model("lightgcn")
class LightGCN(Recommender):
    """LightGCN on the training graph.

    Args:
        embedding_dim: size of the layer-0 embeddings.
        n_layers: number of propagation steps K.
        reg_weight: weight of the L2 penalty on the batch's layer-0 embeddings.
    """

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        embedding_dim: int = 64,
        n_layers: int = 3,
        reg_weight: float = 1e-4,
    ):
        super().__init__(dataset, graph)
        self.n_layers = n_layers
        self.reg_weight = reg_weight
        self.user_emb = nn.Embedding(dataset.n_users, embedding_dim)
        self.item_emb = nn.Embedding(dataset.n_items, embedding_dim)
        self.conv = LightGCNConv(graph)
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.user_emb.weight)
        nn.init.xavier_normal_(self.item_emb.weight)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the final user and item representations (mean over layers)."""
        user, item = self.user_emb.weight, self.item_emb.weight
        user_sum, item_sum = user, item
        for _ in range(self.n_layers):
            user, item = self.conv(user, item)
            user_sum = user_sum + user
            item_sum = item_sum + item
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
