"""Building blocks for scenario-aware layers that plug into ``scenario-gnn``.

A layer usable as ``scenario-gnn``'s ``layer`` is constructed as
``Layer(graph, embedding_dim, gating=..., scenario_nodes=...)``. Its
``forward(user_emb, item_emb, scenario_emb)`` returns five tensors:

* user partial sums ``[U, S, d]``: entry ``[u, t]`` is the message user
  ``u`` receives over edges of scenario ``t``;
* item partial sums ``[I, S, d]``, the same for items;
* user and item context ``[U, d]`` and ``[I, d]``, added to every view;
* scenario states ``[S, d]``, the next step's scenario embeddings.

The layer also has ``structure_penalty()``, a scalar that is 0 when the
layer behaves as LightGCN. The two modules here supply the common parts:
:class:`ScenarioNeighbourSums` for the partial sums and
:class:`ScenarioNodes` for the context.
"""

from __future__ import annotations

import dgl
import torch
from torch import nn

from graphrec.nn.lightgcn import symmetric_norm
from graphrec.nn.scenario import _normalised_operator
from graphrec.nn.sparse import SparseOperator


class ScenarioNeighbourSums(nn.Module):
    """LightGCN neighbour sums kept apart by the scenario of the connecting edge.

    ``to_users(item_emb)[u, t] = sum_{i in N_t(u)} e_i / sqrt(deg(u) deg(i))``
    where ``N_t(u)`` are the items ``u`` has training edges with in scenario
    ``t`` and degrees count all training edges. Summed over ``t`` this is one
    LightGCN step. ``to_items`` is the same for items.
    """

    def __init__(self, graph: dgl.DGLGraph):
        super().__init__()
        self.n_users = graph.num_nodes("user")
        self.n_items = graph.num_nodes("item")
        self.n_scenarios = graph.num_nodes("scenario")
        users, items = graph.edges(etype="interacts")
        scenario = graph.edges["interacts"].data["scenario"]
        norm = symmetric_norm(graph)
        n_slots = self.n_scenarios
        # Row ``v * S + t`` of an operator collects node v's neighbours over edges of scenario t.
        self.item_to_user = SparseOperator(users * n_slots + scenario, items, norm, (self.n_users * n_slots, self.n_items))
        self.user_to_item = SparseOperator(items * n_slots + scenario, users, norm, (self.n_items * n_slots, self.n_users))

    def to_users(self, item_emb: torch.Tensor) -> torch.Tensor:
        """Return the users' per-scenario sums ``[U, S, d]``."""
        return self.item_to_user(item_emb).view(self.n_users, self.n_scenarios, item_emb.shape[1])

    def to_items(self, user_emb: torch.Tensor) -> torch.Tensor:
        """Return the items' per-scenario sums ``[I, S, d]``."""
        return self.user_to_item(user_emb).view(self.n_items, self.n_scenarios, user_emb.shape[1])


class ScenarioNodes(nn.Module):
    """Context routed through scenario nodes, as in :class:`graphrec.nn.scenario.ScenarioConv`.

    Scenario ``s`` collects ``z_s = z0_s + mean_u e_u + mean_i e_i`` over the
    users and items active in it (weights = interaction counts), and node
    ``v`` receives ``c_v = beta * sum_s share(v, s) z_s`` with ``share(v, s)``
    the fraction of its training interactions in ``s`` and ``beta =
    tanh(b)`` learned per node type, 0 at initialisation. With
    ``enabled=False`` the context is zero and ``b`` is frozen.
    """

    def __init__(self, graph: dgl.DGLGraph, enabled: bool = True):
        super().__init__()
        self.enabled = enabled
        self.user_to_scenario = _normalised_operator(graph, "active_in")
        self.item_to_scenario = _normalised_operator(graph, "appears_in")
        self.scenario_to_user = _normalised_operator(graph, "includes_user")
        self.scenario_to_item = _normalised_operator(graph, "includes_item")
        self.beta_logits = nn.Parameter(torch.zeros(2), requires_grad=enabled)

    def beta(self) -> torch.Tensor:
        """Context strength for users and items, each in (-1, 1)."""
        return torch.tanh(self.beta_logits)

    def penalty(self) -> torch.Tensor:
        """Return the summed squared context logits, 0 when there is no context."""
        return self.beta_logits.pow(2).sum()

    def forward(
        self, user_emb: torch.Tensor, item_emb: torch.Tensor, scenario_emb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the user context ``[U, d]``, the item context ``[I, d]`` and the scenario states ``[S, d]``."""
        state = scenario_emb + self.user_to_scenario(user_emb) + self.item_to_scenario(item_emb)
        if not self.enabled:
            return user_emb.new_zeros(user_emb.shape), item_emb.new_zeros(item_emb.shape), state
        beta = self.beta()
        return beta[0] * self.scenario_to_user(state), beta[1] * self.scenario_to_item(state), state
