"""Scenario-aware message passing on the user-item-scenario heterograph.

One step of :class:`ScenarioConv` does three things.

1. Scenario-conditioned messages. Each node sums its neighbours' embeddings
   separately for every scenario of the connecting edges, with the LightGCN
   weight ``1 / sqrt(deg(u) deg(i))``, then scales the scenario-``t`` sum by a
   learned gate vector ``g_t = d * softmax(w_t)``. The gate shifts weight
   between dimensions but keeps their mean at 1, so it cannot inflate the
   embeddings past the L2 penalty. It is all ones at initialisation:

       P_v[t] = g_t * sum_{w in N_t(v)} e_w / sqrt(deg(v) deg(w))

2. Scenario nodes. Scenario ``s`` collects the weighted mean of the users and
   items active in it plus its own embedding, ``z_s = z0_s + mean_u e_u +
   mean_i e_i`` (weights = interaction counts). Every node receives back
   ``c_v = beta * sum_s share(v, s) z_s``, where ``share(v, s)`` is the fraction
   of the node's training interactions in ``s`` and ``beta = tanh(b)`` is
   learned (one per node type, 0 at initialisation).

3. The next global embedding is ``e_v' = sum_t P_v[t] + c_v``; with gates at 1
   and ``beta = 0`` this is exactly LightGCN.

The partial sums ``P_v`` are returned as well, so that the model can mix them
with cross-scenario transfer weights into scenario-specific representations.
"""

from __future__ import annotations

import dgl
import torch
from torch import nn

from graphrec.nn.lightgcn import symmetric_norm
from graphrec.nn.registry import register_layer
from graphrec.nn.sparse import SparseOperator


def _normalised_operator(graph: dgl.DGLGraph, etype: str) -> SparseOperator:
    """Operator ``[n_dst, n_src]`` of ``etype`` whose rows are weights divided by the row total."""
    src, dst = graph.edges(etype=etype)
    weight = graph.edges[etype].data["weight"]
    src_type, _, dst_type = graph.to_canonical_etype(etype)
    n_dst = graph.num_nodes(dst_type)
    totals = torch.zeros(n_dst, dtype=weight.dtype).index_add_(0, dst, weight)
    return SparseOperator(dst, src, weight / totals[dst], (n_dst, graph.num_nodes(src_type)))


@register_layer("scenario-conv")
class ScenarioConv(nn.Module):
    """Scenario-gated propagation with scenario nodes (see the module docstring).

    Args:
        graph: heterograph from :func:`graphrec.graph.build.build_graph`.
        embedding_dim: size of the node embeddings.
        gating: learn the per-scenario message gates; when False, all gates are 1.
        scenario_nodes: route context through scenario nodes; when False,
            ``c_v = 0``.
    """

    def __init__(self, graph: dgl.DGLGraph, embedding_dim: int, gating: bool = True, scenario_nodes: bool = True):
        super().__init__()
        self.n_users = graph.num_nodes("user")
        self.n_items = graph.num_nodes("item")
        self.n_scenarios = graph.num_nodes("scenario")
        self.gating = gating
        self.scenario_nodes = scenario_nodes

        users, items = graph.edges(etype="interacts")
        scenario = graph.edges["interacts"].data["scenario"]
        norm = symmetric_norm(graph)
        n_slots = self.n_scenarios
        # Slot ``v * S + t`` collects node v's neighbours over edges of scenario t.
        self.item_to_user_slot = SparseOperator(users * n_slots + scenario, items, norm, (self.n_users * n_slots, self.n_items))
        self.user_to_item_slot = SparseOperator(items * n_slots + scenario, users, norm, (self.n_items * n_slots, self.n_users))

        self.user_to_scenario = _normalised_operator(graph, "active_in")
        self.item_to_scenario = _normalised_operator(graph, "appears_in")
        self.scenario_to_user = _normalised_operator(graph, "includes_user")
        self.scenario_to_item = _normalised_operator(graph, "includes_item")

        self.gate_logits = nn.Parameter(torch.zeros(self.n_scenarios, embedding_dim), requires_grad=gating)
        self.beta_logits = nn.Parameter(torch.zeros(2), requires_grad=scenario_nodes)

    def gates(self) -> torch.Tensor:
        """Per-scenario message gates ``[S, d]``; each row has mean 1."""
        return self.gate_logits.shape[1] * torch.softmax(self.gate_logits, dim=1)

    def structure_penalty(self) -> torch.Tensor:
        """Return the summed squared gate and context logits, 0 when the step equals LightGCN's."""
        return self.gate_logits.pow(2).sum() + self.beta_logits.pow(2).sum()

    def beta(self) -> torch.Tensor:
        """Strength of the scenario context for users and items, each in (-1, 1)."""
        return torch.tanh(self.beta_logits)

    def forward(
        self, user_emb: torch.Tensor, item_emb: torch.Tensor, scenario_emb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run one step.

        Returns the user partial sums ``[U, S, d]``, the item partial sums
        ``[I, S, d]``, the user and item context ``[U, d]`` and ``[I, d]``, and
        the scenario states ``[S, d]``.
        """
        dim = user_emb.shape[1]
        gates = self.gates()
        user_parts = self.item_to_user_slot(item_emb).view(self.n_users, self.n_scenarios, dim) * gates
        item_parts = self.user_to_item_slot(user_emb).view(self.n_items, self.n_scenarios, dim) * gates

        scenario_state = scenario_emb + self.user_to_scenario(user_emb) + self.item_to_scenario(item_emb)
        beta = self.beta()
        user_context = beta[0] * self.scenario_to_user(scenario_state)
        item_context = beta[1] * self.scenario_to_item(scenario_state)
        if not self.scenario_nodes:
            user_context = torch.zeros_like(user_context)
            item_context = torch.zeros_like(item_context)
        return user_parts, item_parts, user_context, item_context, scenario_state

    def extra_repr(self) -> str:
        return f"scenarios={self.n_scenarios}, gating={self.gating}, scenario_nodes={self.scenario_nodes}"
