"""LightGCN propagation on the user-item part of the heterograph.

He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", SIGIR 2020, equation 3:

    e_u^(k+1) = sum_{i in N(u)} e_i^(k) / sqrt(|N(u)| |N(i)|)

and the same for items. The layer has no weights and no non-linearity.
"""

from __future__ import annotations

import dgl
import torch
from torch import nn

from graphrec.nn.registry import register_layer
from graphrec.nn.sparse import SparseOperator


def symmetric_norm(graph: dgl.DGLGraph) -> torch.Tensor:
    """Return ``1 / sqrt(deg(u) deg(i))`` for every ``interacts`` edge.

    Degrees count training interactions. Nodes without edges never appear in
    an edge, so no division by zero can happen.
    """
    users, items = graph.edges(etype="interacts")
    user_deg = graph.out_degrees(etype="interacts").float()
    item_deg = graph.in_degrees(etype="interacts").float()
    return (user_deg[users] * item_deg[items]).rsqrt()


@register_layer("lightgcn")
class LightGCNConv(nn.Module):
    """One parameter-free LightGCN propagation step between users and items."""

    def __init__(self, graph: dgl.DGLGraph):
        super().__init__()
        users, items = graph.edges(etype="interacts")
        shape = (graph.num_nodes("user"), graph.num_nodes("item"))
        self.item_to_user = SparseOperator(users, items, symmetric_norm(graph), shape)
        self.user_to_item = self.item_to_user.transpose()

    def forward(self, user_emb: torch.Tensor, item_emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.item_to_user(item_emb), self.user_to_item(user_emb)
