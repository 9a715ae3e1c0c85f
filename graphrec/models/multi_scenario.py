"""Multi-scenario matrix-factorisation baselines: separate-mf and star-mf.

Three ways to treat scenarios with an embedding model, from no sharing to
full sharing:

* ``separate-mf`` trains one BPR-MF (Rendle et al., UAI 2009) per scenario.
  Every scenario ``s`` has its own user table ``P_s`` and item table ``Q_s``,
  a training triple updates only the tables of its own scenario, and the
  score in scenario ``s`` is ``x_ui^s = <P_s[u], Q_s[i]>``. No evidence moves
  between scenarios.
* ``star-mf`` applies the star topology of STAR (Sheng et al., "One Model to
  Serve All: Star Topology Adaptive Recommender for Multi-Domain CTR
  Prediction", CIKM 2021, arXiv:2101.11427) to embeddings instead of fully
  connected layers. STAR multiplies shared and domain-specific weights
  element-wise. Here the scenario-``s`` user embedding is
  ``e_u^s = e_u * m_u^s`` and the item embedding is ``e_i^s = e_i * m_i^s``,
  with ``m^s = 1 + delta^s``.
* "pooled" needs no class. It is ``bpr-mf`` or ``lightgcn``, which ignore the
  scenario of every interaction and score every scenario alike.

Scoring with ``score(users, scenario=None)`` follows the level of the
scenario spec. For user-level specs each user is scored in the user's own
scenario, and for item-level specs each item is scored in the item's own
scenario. Interaction-level specs give no single scenario per user or item,
so the score is the per-scenario scores weighted by the user's share of
training interactions in each scenario.
"""

from __future__ import annotations

import dgl
import torch
from torch import nn

from graphrec.data.dataset import RecDataset
from graphrec.models.base import Recommender, bpr_loss, l2_penalty
from graphrec.models.registry import register_model


class ScenarioFactorModel(Recommender):
    """Base for models that have one user factor table and one item factor table per scenario.

    Subclasses implement :meth:`scenario_factors`. This class turns those
    tables into scores in one scenario or in each user's or item's own
    scenario (see the module docstring).
    """

    def __init__(self, dataset: RecDataset, graph: dgl.DGLGraph):
        super().__init__(dataset, graph)
        self.level = dataset.scenario_level
        if self.level == "user":
            self.register_buffer("user_scenario", torch.tensor(dataset.user_scenario), persistent=False)
        elif self.level == "item":
            self.register_buffer("item_scenario", torch.tensor(dataset.item_scenario), persistent=False)
        else:
            self.register_buffer("user_share", torch.tensor(dataset.user_scenario_share), persistent=False)

    def scenario_factors(self, scenario: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the user factors ``[n_users, d]`` and item factors ``[n_items, d]`` of one scenario."""
        raise NotImplementedError

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        if scenario is not None:
            user_factors, item_factors = self.scenario_factors(scenario)
            return user_factors[users] @ item_factors.T
        if self.level == "user":
            return self._score_in_user_scenarios(users)
        if self.level == "item":
            return self._score_in_item_scenarios(users)
        return self._score_by_user_share(users)

    def _score_in_user_scenarios(self, users: torch.Tensor) -> torch.Tensor:
        scores = torch.empty(len(users), self.n_items)
        own = self.user_scenario[users]
        for s in range(self.n_scenarios):
            rows = torch.nonzero(own == s).squeeze(1)
            if len(rows) == 0:
                continue
            user_factors, item_factors = self.scenario_factors(s)
            scores[rows] = user_factors[users[rows]] @ item_factors.T
        return scores

    def _score_in_item_scenarios(self, users: torch.Tensor) -> torch.Tensor:
        scores = torch.empty(len(users), self.n_items)
        for s in range(self.n_scenarios):
            cols = torch.nonzero(self.item_scenario == s).squeeze(1)
            if len(cols) == 0:
                continue
            user_factors, item_factors = self.scenario_factors(s)
            scores[:, cols] = user_factors[users] @ item_factors[cols].T
        return scores

    def _score_by_user_share(self, users: torch.Tensor) -> torch.Tensor:
        share = self.user_share[users]
        scores = torch.zeros(len(users), self.n_items)
        for s in range(self.n_scenarios):
            user_factors, item_factors = self.scenario_factors(s)
            scores += share[:, s : s + 1] * (user_factors[users] @ item_factors.T)
        return scores


@register_model("separate-mf")
class SeparateMF(ScenarioFactorModel):
    """One BPR-MF per scenario, trained only on that scenario's interactions.

    The tables are stored as ``user_factors`` ``[S, n_users, d]`` and
    ``item_factors`` ``[S, n_items, d]``. A user or item without training
    interactions in scenario ``s`` gets no gradient in table ``s`` and keeps
    its initial random factors there (unless the optimiser has weight decay).

    Args:
        embedding_dim: size of the user and item factors of every scenario.
        reg_weight: weight of the L2 penalty on the batch's factors.
    """

    def __init__(self, dataset: RecDataset, graph: dgl.DGLGraph, *, embedding_dim: int = 64, reg_weight: float = 0.0):
        super().__init__(dataset, graph)
        self.reg_weight = reg_weight
        self.user_factors = nn.Parameter(torch.empty(self.n_scenarios, self.n_users, embedding_dim))
        self.item_factors = nn.Parameter(torch.empty(self.n_scenarios, self.n_items, embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for s in range(self.n_scenarios):
            nn.init.xavier_normal_(self.user_factors.data[s])
            nn.init.xavier_normal_(self.item_factors.data[s])

    def loss(self, users, pos_items, neg_items, scenarios):
        u = self.user_factors[scenarios, users]
        pos = self.item_factors[scenarios, pos_items]
        neg = self.item_factors[scenarios, neg_items]
        ranking = bpr_loss((u * pos).sum(1), (u * neg).sum(1))
        return ranking + self.reg_weight * l2_penalty(u, pos, neg)

    def scenario_factors(self, scenario: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_factors[scenario], self.item_factors[scenario]


@register_model("star-mf")
class StarMF(ScenarioFactorModel):
    """Shared embeddings scaled element-wise by scenario-specific ones (STAR-style MF).

    ``e_u^s = e_u * (1 + delta_u^s)`` and ``e_i^s = e_i * (1 + delta_i^s)``,
    and the score in scenario ``s`` is ``<e_u^s, e_i^s>``. STAR combines
    shared and specific weights by element-wise product, and so does this
    model. Unlike the sum ``e_u + delta_u^s``, the product lets a specific
    table rescale the shared factors but not replace them. The offsets ``delta``
    start at zero, so the untrained model is BPR-MF with the shared tables,
    and a user without training interactions in ``s`` is scored there with
    the shared embedding alone.

    The loss is BPR in the scenario of each positive interaction, plus
    ``reg_weight`` times the L2 penalty on the batch's shared embeddings and
    ``specific_reg`` times the L2 penalty on the batch's offsets. The second
    term pulls every specific table towards 1, that is towards pooled BPR-MF.

    Args:
        embedding_dim: size of the shared and specific embeddings.
        reg_weight: weight of the L2 penalty on the batch's shared embeddings.
        specific_reg: weight of the L2 penalty on the batch's offsets ``delta``.
    """

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        embedding_dim: int = 64,
        reg_weight: float = 0.0,
        specific_reg: float = 0.0,
    ):
        super().__init__(dataset, graph)
        self.reg_weight = reg_weight
        self.specific_reg = specific_reg
        self.user_emb = nn.Embedding(self.n_users, embedding_dim)
        self.item_emb = nn.Embedding(self.n_items, embedding_dim)
        self.user_offsets = nn.Parameter(torch.zeros(self.n_scenarios, self.n_users, embedding_dim))
        self.item_offsets = nn.Parameter(torch.zeros(self.n_scenarios, self.n_items, embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.user_emb.weight)
        nn.init.xavier_normal_(self.item_emb.weight)
        nn.init.zeros_(self.user_offsets)
        nn.init.zeros_(self.item_offsets)

    def user_embedding(self, users: torch.Tensor, scenarios: torch.Tensor) -> torch.Tensor:
        """Return ``e_u^s`` for aligned ``users`` and ``scenarios``."""
        return self.user_emb(users) * (1.0 + self.user_offsets[scenarios, users])

    def item_embedding(self, items: torch.Tensor, scenarios: torch.Tensor) -> torch.Tensor:
        """Return ``e_i^s`` for aligned ``items`` and ``scenarios``."""
        return self.item_emb(items) * (1.0 + self.item_offsets[scenarios, items])

    def loss(self, users, pos_items, neg_items, scenarios):
        u = self.user_embedding(users, scenarios)
        pos = self.item_embedding(pos_items, scenarios)
        neg = self.item_embedding(neg_items, scenarios)
        ranking = bpr_loss((u * pos).sum(1), (u * neg).sum(1))

        shared = l2_penalty(self.user_emb(users), self.item_emb(pos_items), self.item_emb(neg_items))
        specific = l2_penalty(
            self.user_offsets[scenarios, users],
            self.item_offsets[scenarios, pos_items],
            self.item_offsets[scenarios, neg_items],
        )
        return ranking + self.reg_weight * shared + self.specific_reg * specific

    def scenario_factors(self, scenario: int) -> tuple[torch.Tensor, torch.Tensor]:
        user = self.user_emb.weight * (1.0 + self.user_offsets[scenario])
        item = self.item_emb.weight * (1.0 + self.item_offsets[scenario])
        return user, item
