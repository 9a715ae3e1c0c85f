"""ScenarioGNN: scenario-aware propagation with learned cross-scenario transfer.

The model stacks ``n_layers`` :class:`graphrec.nn.scenario.ScenarioConv` steps.
Each step returns, for every node, its neighbour sums split by scenario,
``P_v[t]``. The scenario-``s`` view of node ``v`` after a step reweights them
with the transfer matrix ``T`` (rows sum to 1):

    e_v^(k+1, s) = (sum_t T[s, t] P_v^(k)[t]) / (sum_t T[s, t] r_v[t]) + c_v^(k)
    T[s, :] = softmax(L[s, :])

where ``r_v[t]`` is the share of ``v``'s training interactions in scenario
``t``. ``T[s, t]`` is how much evidence from scenario ``t`` counts when
scoring in scenario ``s``. The denominator keeps the view at the scale of the
plain neighbour sum, so a larger transfer weight changes the mix of evidence
and not the size of the embedding. ``L`` starts at zero: equal weights make
every view ``sum_t P_v[t]``, and the untrained model is exactly LightGCN.

The scenario-specific user and item representations are the mean of the
views over layers 0..K (layer 0 is the shared embedding), and the score in
scenario ``s`` is ``<h_u^s, h_i^s>``. Training uses the BPR loss in the
scenario of each positive interaction.

Ablations: ``gating=False`` fixes every message gate at 1, and
``scenario_nodes=False`` removes the scenario-node context. ``transfer="pooled"``
fixes equal weights, so every view is the same and there is no
scenario-specific representation. ``transfer="isolated"`` fixes ``T = I``, so
no evidence moves between scenarios.

With ``text_init`` set to a text encoder, the layer-0 item embeddings start
from the principal components of the items' text embeddings and each user's
from the mean of their training items' (see
:func:`graphrec.text.features.text_initial_embeddings`), instead of random
values. They are trained as usual from there.
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
from graphrec.text.features import text_initial_embeddings

TRANSFER_MODES = ("learned", "pooled", "isolated")


@register_model("scenario-gnn")
class ScenarioGNN(Recommender):
    """Scenario-aware graph recommender (see the module docstring).

    Args:
        embedding_dim: size of the layer-0 embeddings.
        n_layers: number of propagation steps K.
        reg_weight: weight of the L2 penalty on the batch's layer-0 embeddings.
        structure_reg: weight of the L2 penalty on the transfer, gate and
            context logits. It pulls the model towards LightGCN (equal
            transfer weights, unit gates, no context), which the training
            loss alone tends to leave for isolated, overfitted scenarios.
        layer: registered layer name. The layer must accept ``(graph,
            embedding_dim, gating, scenario_nodes)``, return what
            ``ScenarioConv.forward`` returns and have a ``structure_penalty()``
            method. Built in: ``scenario-conv``, ``relation-conv`` and
            ``scenario-attention``; docs/adding-a-layer.md shows how to add one.
        gating: learn per-scenario message gates.
        scenario_nodes: pass context through scenario nodes.
        transfer: ``"learned"``, ``"pooled"`` or ``"isolated"``.
        text_init: text encoder for the layer-0 embeddings (``"minilm"``,
            ``"tfidf"``, or a sentence-transformers folder or cached name;
            see :func:`graphrec.text.encoders.make_encoder`); None starts
            from random values.
    """

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        embedding_dim: int = 64,
        n_layers: int = 3,
        reg_weight: float = 1e-4,
        structure_reg: float = 0.0,
        layer: str = "scenario-conv",
        gating: bool = True,
        scenario_nodes: bool = True,
        transfer: str = "learned",
        text_init: str | None = None,
    ):
        super().__init__(dataset, graph)
        if transfer not in TRANSFER_MODES:
            raise ConfigError(f"invalid transfer mode {transfer!r}; valid modes: {', '.join(TRANSFER_MODES)}")
        self.n_layers = n_layers
        self.reg_weight = reg_weight
        self.structure_reg = structure_reg
        self.transfer = transfer
        self.user_emb = nn.Embedding(dataset.n_users, embedding_dim)
        self.item_emb = nn.Embedding(dataset.n_items, embedding_dim)
        self.scenario_emb = nn.Embedding(dataset.n_scenarios, embedding_dim)
        self.transfer_logits = nn.Parameter(
            torch.zeros(dataset.n_scenarios, dataset.n_scenarios), requires_grad=transfer == "learned"
        )
        conv_cls = get_layer(layer)
        if not hasattr(conv_cls, "structure_penalty"):
            raise ConfigError(
                f"layer {layer!r} is not a scenario layer (it has no structure_penalty()); "
                "use scenario-conv, relation-conv, scenario-attention or a layer written as in docs/adding-a-layer.md"
            )
        self.convs = nn.ModuleList(
            conv_cls(graph, embedding_dim, gating=gating, scenario_nodes=scenario_nodes) for _ in range(n_layers)
        )
        self.register_buffer("user_mix", _scenario_shares(graph, "includes_user", "user"), persistent=False)
        self.register_buffer("item_mix", _scenario_shares(graph, "includes_item", "item"), persistent=False)
        self._register_scoring_context(dataset)
        self.text_init = text_init
        if text_init is not None:
            self._register_text_start(dataset, text_init, embedding_dim)
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

    def _register_text_start(self, dataset: RecDataset, text_init: str, embedding_dim: int) -> None:
        """Store the text-derived layer-0 values that ``reset_parameters`` copies in."""
        user_start, user_has_items, item_start = text_initial_embeddings(dataset, text_init, embedding_dim)
        # Derived from the data on every construction, so checkpoints leave them out.
        self.register_buffer("user_text_start", torch.from_numpy(user_start), persistent=False)
        self.register_buffer("user_has_items", torch.from_numpy(user_has_items), persistent=False)
        self.register_buffer("item_text_start", torch.from_numpy(item_start), persistent=False)

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.user_emb.weight)
        nn.init.xavier_normal_(self.item_emb.weight)
        nn.init.xavier_normal_(self.scenario_emb.weight)
        nn.init.zeros_(self.transfer_logits)
        if self.text_init is not None:
            # Columns past the text components keep their random values.
            with torch.no_grad():
                n_text = self.item_text_start.shape[1]
                self.item_emb.weight[:, :n_text] = self.item_text_start
                rows = self.user_has_items
                self.user_emb.weight[rows, :n_text] = self.user_text_start[rows]

    def transfer_weights(self) -> torch.Tensor:
        """Return ``T`` ``[S, S]``; row ``s`` gives the weight of each scenario's evidence in scenario ``s``."""
        n = self.n_scenarios
        if self.transfer == "pooled":
            return torch.full((n, n), 1.0 / n)
        if self.transfer == "isolated":
            return torch.eye(n)
        return torch.softmax(self.transfer_logits, dim=1)

    @staticmethod
    def _views(transfer: torch.Tensor, parts: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        """Mix per-scenario sums ``[N, S, d]`` into scenario views ``[N, S, d]`` at the scale of their total."""
        mixed = torch.einsum("st,ntd->nsd", transfer, parts)
        # A node without evidence from the weighted scenarios has zero parts,
        # so the clamp only avoids 0 / 0.
        scale = (mix @ transfer.T).clamp_min(1e-12)
        return mixed / scale.unsqueeze(2)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the scenario views of users ``[U, S, d]`` and items ``[I, S, d]``."""
        transfer = self.transfer_weights()
        user, item = self.user_emb.weight, self.item_emb.weight
        scenario = self.scenario_emb.weight
        user_views = user.unsqueeze(1).expand(-1, self.n_scenarios, -1)
        item_views = item.unsqueeze(1).expand(-1, self.n_scenarios, -1)

        for conv in self.convs:
            user_parts, item_parts, user_ctx, item_ctx, scenario = conv(user, item, scenario)
            user_views = user_views + self._views(transfer, user_parts, self.user_mix) + user_ctx.unsqueeze(1)
            item_views = item_views + self._views(transfer, item_parts, self.item_mix) + item_ctx.unsqueeze(1)
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
        penalty = l2_penalty(
            self.user_emb(users), self.item_emb(pos_items), self.item_emb(neg_items), self.scenario_emb(scenarios)
        )
        return ranking + self.reg_weight * penalty + self.structure_reg * self.structure_penalty()

    def structure_penalty(self) -> torch.Tensor:
        """Return the summed squared transfer, gate and context logits (0 for LightGCN)."""
        total = self.transfer_logits.pow(2).sum()
        for conv in self.convs:
            total = total + conv.structure_penalty()
        return total

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
        """Return ``T`` as a NumPy array (rows: the scenario scored in, columns: the evidence's scenario)."""
        with torch.no_grad():
            return self.transfer_weights().numpy()


def _scenario_shares(graph: dgl.DGLGraph, etype: str, ntype: str) -> torch.Tensor:
    """Dense ``[N, S]`` share of each node's training interactions per scenario.

    ``etype`` is a scenario-to-node relation whose edge weights count
    interactions. Nodes without interactions get equal shares.
    """
    scenarios, nodes = graph.edges(etype=etype)
    weight = graph.edges[etype].data["weight"]
    counts = torch.zeros(graph.num_nodes(ntype), graph.num_nodes("scenario"))
    counts.index_put_((nodes, scenarios), weight, accumulate=True)
    totals = counts.sum(1, keepdim=True)
    uniform = torch.full_like(counts, 1.0 / counts.shape[1])
    return torch.where(totals > 0, counts / totals.clamp_min(1.0), uniform)
