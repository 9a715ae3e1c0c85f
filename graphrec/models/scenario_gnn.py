"""ScenarioGNN: scenario-aware propagation with learned cross-scenario transfer.

The model stacks ``n_layers`` :class:`graphrec.nn.scenario.ScenarioConv` steps.
Each step returns, for every node, its neighbour sums split by scenario,
``P_v[t]``. The scenario-``s`` view of node ``v`` after a step mixes them with
the transfer matrix ``T``:

    e_v^(k+1, s) = sum_t T[s, t] P_v^(k)[t] + c_v^(k)
    T[s, :] = S * softmax(L[s, :])

so ``T[s, t] / S`` is the share of the evidence from scenario ``t`` used when
scoring in scenario ``s``. ``L`` starts at zero, which gives equal shares and
makes the untrained model identical to LightGCN. The scenario-specific user
and item representations are the mean of the views over layers 0..K (layer 0
is the shared embedding) and the score in scenario ``s`` is
``<h_u^s, h_i^s>``. Training uses the BPR loss in the scenario of each
positive interaction.

Ablations: ``gating=False`` fixes every message gate at 1,
``scenario_nodes=False`` removes the scenario-node context, ``transfer`` set to
``"pooled"`` fixes ``T`` to all ones (every view is the same, so there is no
scenario-specific representation) and ``"isolated"`` fixes ``T = S * I`` (no
transfer between scenarios).
"""

from __future__ import annotations

import dgl
import numpy as np
import torch
from torch import nn

from graphrec.data.dataset import RecDataset
from graphrec.errors import ConfigError
from graphrec.models.base import Recommender, bpr_loss, l2_penalty
from graphrec.models.registry import register_model
from graphrec.nn.registry import get_layer

TRANSFER_MODES = ("learned", "pooled", "isolated")


@register_model("scenario-gnn")
class ScenarioGNN(Recommender):
    """Scenario-aware graph recommender (see the module docstring).

    Args:
        embedding_dim: size of the layer-0 embeddings.
        n_layers: number of propagation steps K.
        reg_weight: weight of the L2 penalty on the batch's layer-0 embeddings.
        layer: registered layer name; it must accept ``(graph, embedding_dim,
            gating, scenario_nodes)`` and return what ``ScenarioConv`` returns.
        gating: learn per-scenario message gates.
        scenario_nodes: pass context through scenario nodes.
        transfer: ``"learned"``, ``"pooled"`` or ``"isolated"``.
    """

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        embedding_dim: int = 64,
        n_layers: int = 3,
        reg_weight: float = 1e-4,
        layer: str = "scenario-conv",
        gating: bool = True,
        scenario_nodes: bool = True,
        transfer: str = "learned",
    ):
        super().__init__(dataset, graph)
        if transfer not in TRANSFER_MODES:
            raise ConfigError(f"invalid transfer mode {transfer!r}; valid modes: {', '.join(TRANSFER_MODES)}")
        self.n_layers = n_layers
        self.reg_weight = reg_weight
        self.transfer = transfer
        self.user_emb = nn.Embedding(dataset.n_users, embedding_dim)
        self.item_emb = nn.Embedding(dataset.n_items, embedding_dim)
        self.scenario_emb = nn.Embedding(dataset.n_scenarios, embedding_dim)
        self.transfer_logits = nn.Parameter(
            torch.zeros(dataset.n_scenarios, dataset.n_scenarios), requires_grad=transfer == "learned"
        )
        conv_cls = get_layer(layer)
        self.convs = nn.ModuleList(
            conv_cls(graph, embedding_dim, gating=gating, scenario_nodes=scenario_nodes) for _ in range(n_layers)
        )
        self._register_scoring_context(dataset)
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.reset_parameters()

    def _register_scoring_context(self, dataset: RecDataset) -> None:
        """Store what ``score(users, scenario=None)`` needs to pick each user's context."""
        self.level = dataset.scenario_level
        if self.level == "item":
            self.register_buffer("item_scenario", torch.tensor(dataset.item_scenario))
        else:
            # User-level specs give one-hot shares; interaction-level specs mix
            # the scenarios by the user's share of training interactions.
            self.register_buffer("user_share", torch.tensor(dataset.user_scenario_share))

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.user_emb.weight)
        nn.init.xavier_normal_(self.item_emb.weight)
        nn.init.xavier_normal_(self.scenario_emb.weight)
        nn.init.zeros_(self.transfer_logits)

    def transfer_weights(self) -> torch.Tensor:
        """Return ``T`` ``[S, S]``; row ``s`` says how much each scenario informs scenario ``s``."""
        n = self.n_scenarios
        if self.transfer == "pooled":
            return torch.ones(n, n)
        if self.transfer == "isolated":
            return n * torch.eye(n)
        return n * torch.softmax(self.transfer_logits, dim=1)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the scenario views of users ``[U, S, d]`` and items ``[I, S, d]``."""
        transfer = self.transfer_weights()
        user, item = self.user_emb.weight, self.item_emb.weight
        scenario = self.scenario_emb.weight
        user_views = user.unsqueeze(1).expand(-1, self.n_scenarios, -1)
        item_views = item.unsqueeze(1).expand(-1, self.n_scenarios, -1)

        for conv in self.convs:
            user_parts, item_parts, user_ctx, item_ctx, scenario = conv(user, item, scenario)
            user_views = user_views + torch.einsum("st,utd->usd", transfer, user_parts) + user_ctx.unsqueeze(1)
            item_views = item_views + torch.einsum("st,itd->isd", transfer, item_parts) + item_ctx.unsqueeze(1)
            user = user_parts.sum(1) + user_ctx
            item = item_parts.sum(1) + item_ctx

        scale = 1.0 / (self.n_layers + 1)
        return user_views * scale, item_views * scale

    def loss(self, users, pos_items, neg_items, scenarios):
        self._cache = None
        user_views, item_views = self.propagate()
        u = user_views[users, scenarios]
        pos = item_views[pos_items, scenarios]
        neg = item_views[neg_items, scenarios]
        ranking = bpr_loss((u * pos).sum(1), (u * neg).sum(1))
        penalty = l2_penalty(self.user_emb(users), self.item_emb(pos_items), self.item_emb(neg_items))
        return ranking + self.reg_weight * penalty

    @torch.no_grad()
    def prepare_scoring(self) -> None:
        self._cache = self.propagate()

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        if self._cache is None:
            self.prepare_scoring()
        user_views, item_views = self._cache
        if scenario is not None:
            return user_views[users, scenario] @ item_views[:, scenario].T

        if self.level == "item":
            # Each item is scored in its own scenario.
            scores = torch.empty(len(users), self.n_items)
            for s in range(self.n_scenarios):
                cols = torch.nonzero(self.item_scenario == s).squeeze(1)
                scores[:, cols] = user_views[users, s] @ item_views[cols, s].T
            return scores

        share = self.user_share[users]
        scores = torch.zeros(len(users), self.n_items)
        for s in range(self.n_scenarios):
            scores += share[:, s : s + 1] * (user_views[users, s] @ item_views[:, s].T)
        return scores

    def transfer_table(self) -> np.ndarray:
        """Return the transfer shares ``T / S`` as a NumPy array (rows: target scenario)."""
        with torch.no_grad():
            return (self.transfer_weights() / self.n_scenarios).numpy()
