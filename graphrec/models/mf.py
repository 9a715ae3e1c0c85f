"""BPR-MF: matrix factorisation trained with the BPR loss.

Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback",
UAI 2009. The score is the inner product ``x_ui = <p_u, q_i>``.
"""

from __future__ import annotations

import dgl
import torch
from torch import nn

from graphrec.data.dataset import RecDataset
from graphrec.models.base import Recommender, bpr_loss, l2_penalty
from graphrec.models.registry import register_model


@register_model("bpr-mf")
class BPRMF(Recommender):
    """Matrix factorisation with BPR loss.

    Args:
        embedding_dim: size of the user and item factors.
        reg_weight: weight of the L2 penalty on the batch's factors.
    """

    def __init__(self, dataset: RecDataset, graph: dgl.DGLGraph, *, embedding_dim: int = 64, reg_weight: float = 0.0):
        super().__init__(dataset, graph)
        self.reg_weight = reg_weight
        self.user_emb = nn.Embedding(dataset.n_users, embedding_dim)
        self.item_emb = nn.Embedding(dataset.n_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.user_emb.weight)
        nn.init.xavier_normal_(self.item_emb.weight)

    def loss(self, users, pos_items, neg_items, scenarios):
        u = self.user_emb(users)
        pos = self.item_emb(pos_items)
        neg = self.item_emb(neg_items)
        ranking = bpr_loss((u * pos).sum(1), (u * neg).sum(1))
        return ranking + self.reg_weight * l2_penalty(u, pos, neg)

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        return self.user_emb(users) @ self.item_emb.weight.T
