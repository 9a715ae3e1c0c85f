"""Relation-typed convolution: one weight matrix per (direction, scenario) relation.

After Schlichtkrull et al., "Modeling Relational Data with Graph
Convolutional Networks" (R-GCN), ESWC 2018, whose propagation rule sums
neighbour messages ``W_r h_j`` with a separate matrix ``W_r`` for every
relation ``r``. Here an edge's relation is its direction (item to user or
user to item) and its scenario, so there are ``2 S`` matrices:

    P_u[t] = W^{iu}_t  sum_{i in N_t(u)} e_i / sqrt(deg(u) deg(i))
    P_i[t] = W^{ui}_t  sum_{u in N_t(i)} e_u / sqrt(deg(u) deg(i))

Departures from R-GCN, so that the layer fits ``scenario-gnn`` and starts as
LightGCN:

* the messages keep LightGCN's symmetric weight instead of R-GCN's
  ``1 / |N_r(v)|``;
* there is no self-loop term ``W_0 h_v``, because the model's mean over
  layers already includes layer 0, and no non-linearity;
* every ``W`` starts as the identity;
* there is no basis decomposition, so a layer has ``2 S d^2`` weights.

The scenario-node context is that of
:class:`graphrec.nn.scenario_parts.ScenarioNodes`.
"""

from __future__ import annotations

import dgl
import torch
from torch import nn

from graphrec.nn.registry import register_layer
from graphrec.nn.scenario_parts import ScenarioNeighbourSums, ScenarioNodes


@register_layer("relation-conv")
class RelationConv(nn.Module):
    """Scenario-typed R-GCN step (see the module docstring).

    Args:
        graph: heterograph from :func:`graphrec.graph.build.build_graph`.
        embedding_dim: size of the node embeddings.
        gating: learn the relation matrices. When False, they stay the
            identity and the messages are LightGCN's.
        scenario_nodes: route context through scenario nodes.
    """

    def __init__(self, graph: dgl.DGLGraph, embedding_dim: int, gating: bool = True, scenario_nodes: bool = True):
        super().__init__()
        self.gating = gating
        self.sums = ScenarioNeighbourSums(graph)
        self.n_scenarios = self.sums.n_scenarios
        identity = torch.eye(embedding_dim).expand(2, self.n_scenarios, embedding_dim, embedding_dim)
        # weight[0, t] maps item-to-user messages of scenario t, weight[1, t] user-to-item ones.
        self.weight = nn.Parameter(identity.clone(), requires_grad=gating)
        self.context = ScenarioNodes(graph, enabled=scenario_nodes)

    def structure_penalty(self) -> torch.Tensor:
        """Return ``sum ||W - I||^2`` plus the context logits' squares, 0 when the step equals LightGCN's."""
        identity = torch.eye(self.weight.shape[-1])
        return (self.weight - identity).pow(2).sum() + self.context.penalty()

    def forward(
        self, user_emb: torch.Tensor, item_emb: torch.Tensor, scenario_emb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run one step and return what :class:`graphrec.nn.scenario.ScenarioConv` returns."""
        # out[n, t, e] = sum_d W[t, e, d] x[n, t, d], the matrix-vector product W_t x.
        user_parts = torch.einsum("ted,ntd->nte", self.weight[0], self.sums.to_users(item_emb))
        item_parts = torch.einsum("ted,ntd->nte", self.weight[1], self.sums.to_items(user_emb))
        user_context, item_context, scenario_state = self.context(user_emb, item_emb, scenario_emb)
        return user_parts, item_parts, user_context, item_context, scenario_state

    def extra_repr(self) -> str:
        return f"scenarios={self.n_scenarios}, gating={self.gating}, scenario_nodes={self.context.enabled}"
