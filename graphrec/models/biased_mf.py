"""Biased matrix factorisation for explicit ratings.

Koren, Bell and Volinsky, "Matrix Factorization Techniques for Recommender
Systems", IEEE Computer, 2009. The predicted rating is
``r_hat_ui = mu + b_u + b_i + <p_u, q_i>``, fitted by squared error plus
``lambda * (||p_u||^2 + ||q_i||^2 + b_u^2 + b_i^2)`` for every observed rating.

``mu`` is not a parameter of this class. It is the mean training rating that
the rating protocol adds to every pair logit (see
:func:`graphrec.models.pointwise.rating_offset`), so :meth:`BiasedMF.pair_logits`
returns ``b_u + b_i + <p_u, q_i>``. In the paper, too, ``mu`` is the overall
average rating rather than a learned value.
"""

from __future__ import annotations

import dgl
import torch
from torch import nn

from graphrec.data.dataset import RecDataset
from graphrec.models.base import Recommender, bpr_loss
from graphrec.models.registry import register_model


@register_model("biased-mf")
class BiasedMF(Recommender):
    """Matrix factorisation with user and item biases, for the rating protocol.

    Train it with :class:`graphrec.train.ctr_trainer.CTRTrainer` and
    ``objective="rating"``: the trainer's squared error on the deviation from
    ``mu`` plus :meth:`pair_penalty` is the paper's objective divided by the
    batch size. Under the BPR :class:`graphrec.train.trainer.Trainer` the
    model trains with :meth:`loss`, which ranks with the same score.

    Args:
        embedding_dim: size of the user factors ``p_u`` and item factors ``q_i``.
        reg_weight: ``lambda``, the L2 weight on the batch's factors and biases.
        init_std: standard deviation of the normal initialisation of the
            factors. The biases start at 0.
    """

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        embedding_dim: int = 64,
        reg_weight: float = 0.1,
        init_std: float = 0.1,
    ):
        super().__init__(dataset, graph)
        self.reg_weight = reg_weight
        self.init_std = init_std
        self.user_emb = nn.Embedding(dataset.n_users, embedding_dim)
        self.item_emb = nn.Embedding(dataset.n_items, embedding_dim)
        self.user_bias = nn.Embedding(dataset.n_users, 1)
        self.item_bias = nn.Embedding(dataset.n_items, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user_emb.weight, std=self.init_std)
        nn.init.normal_(self.item_emb.weight, std=self.init_std)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def pair_logits(self, users: torch.Tensor, items: torch.Tensor, scenarios: torch.Tensor) -> torch.Tensor:
        """Return ``b_u + b_i + <p_u, q_i>`` ``[B]``, the predicted rating minus ``mu``."""
        interaction = (self.user_emb(users) * self.item_emb(items)).sum(dim=1)
        return self.user_bias(users).squeeze(1) + self.item_bias(items).squeeze(1) + interaction

    def pair_penalty(self, users: torch.Tensor, items: torch.Tensor, scenarios: torch.Tensor) -> torch.Tensor:
        """Return ``reg_weight`` times the batch mean of ``||p_u||^2 + ||q_i||^2 + b_u^2 + b_i^2``.

        Only the rows the batch uses are penalised, as in the paper's
        stochastic gradient updates.
        """
        squares = (
            self.user_emb(users).pow(2).sum(dim=1)
            + self.item_emb(items).pow(2).sum(dim=1)
            + self.user_bias(users).squeeze(1).pow(2)
            + self.item_bias(items).squeeze(1).pow(2)
        )
        return self.reg_weight * squares.mean()

    def loss(self, users, pos_items, neg_items, scenarios):
        """Return the BPR loss of the biased score plus the mean of both pairs' :meth:`pair_penalty`."""
        positive = self.pair_logits(users, pos_items, scenarios)
        negative = self.pair_logits(users, neg_items, scenarios)
        penalty = self.pair_penalty(users, pos_items, scenarios) + self.pair_penalty(users, neg_items, scenarios)
        return bpr_loss(positive, negative) + penalty / 2

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        """Return ``b_u + b_i + <p_u, q_i>`` for every item ``[len(users), n_items]``."""
        interaction = self.user_emb(users) @ self.item_emb.weight.T
        return interaction + self.user_bias(users) + self.item_bias.weight.T
