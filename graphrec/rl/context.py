"""Bandit contexts built from a trained recommender's user and item embeddings.

The context of candidate item ``i`` shown to user ``u`` in scenario ``s`` is::

    x(u, s, i) = [ (e_u * e_i) / c,  onehot(s) * (e_u . e_i) / c,  onehot(s) ]

with ``*`` the elementwise product, ``.`` the dot product and ``c`` the mean
base score of the training interactions, so a candidate scored like an
average training positive has scaled score 1 whatever the embedding scale.
The dimension is ``d + 2S``.

- The first block sums to the scaled base score, so a linear policy whose
  parameters are 1 there and 0 elsewhere ranks exactly as the base model
  (:meth:`ContextBuilder.score_direction`), and other weights re-weight the
  embedding dimensions.
- The second block lets each scenario trust the base score differently. It is
  the only place where a user-level scenario, which is the same for every
  candidate of an event, can change which candidate wins.
- The third block is a per-scenario bias: it moves the predicted reward but
  never the choice within one event.

Models whose ``propagate()`` returns per-scenario views ``[n, S, d]``
(``scenario-gnn``) give the view of the event's scenario.
"""

from __future__ import annotations

import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TRAIN
from graphrec.errors import ConfigError
from graphrec.models.base import Recommender


@torch.no_grad()
def model_embeddings(model: Recommender, model_name: str = "model") -> tuple[np.ndarray, np.ndarray]:
    """Return the user and item representations a model scores with, as float64 arrays.

    Uses ``propagate()`` where the model has it (LightGCN and the other graph
    models), otherwise the ``user_emb`` and ``item_emb`` tables (BPR-MF).
    """
    model.eval()
    if hasattr(model, "propagate"):
        user, item = model.propagate()
    elif hasattr(model, "user_emb") and hasattr(model, "item_emb"):
        user, item = model.user_emb.weight, model.item_emb.weight
    else:
        raise ConfigError(
            f"model {model_name!r} has no user and item embeddings for bandit contexts; "
            "use an embedding model such as lightgcn or bpr-mf as the base model"
        )
    return user.detach().double().numpy(), item.detach().double().numpy()


class ContextBuilder:
    """Build the context matrix of an event's candidates (see the module docstring).

    Args:
        user_embeddings: ``[n_users, d]`` or per-scenario views ``[n_users, S, d]``.
        item_embeddings: ``[n_items, d]`` or ``[n_items, S, d]``, matching the users.
        n_scenarios: number of scenarios ``S``.
        scale: the divisor ``c``; :meth:`from_model` sets it to the mean
            training score. None uses the product of the median user and the
            median item embedding norm.
    """

    def __init__(
        self, user_embeddings: np.ndarray, item_embeddings: np.ndarray, n_scenarios: int, scale: float | None = None
    ):
        user = np.asarray(user_embeddings, dtype=np.float64)
        item = np.asarray(item_embeddings, dtype=np.float64)
        if user.ndim != item.ndim or user.shape[-1] != item.shape[-1] or user.ndim not in (2, 3):
            raise ValueError(f"user embeddings {user.shape} and item embeddings {item.shape} do not match")
        if user.ndim == 3 and (user.shape[1] != n_scenarios or item.shape[1] != n_scenarios):
            raise ValueError(f"per-scenario views {user.shape}, {item.shape} do not have {n_scenarios} scenarios")
        self.user = user
        self.item = item
        self.n_scenarios = n_scenarios
        self.embedding_dim = user.shape[-1]

        if scale is None:
            scale = float(np.median(np.linalg.norm(user, axis=-1)) * np.median(np.linalg.norm(item, axis=-1)))
        if not scale > 0:
            raise ValueError(f"context scale must be positive, got {scale}")
        self.scale = float(scale)

    @classmethod
    def from_model(cls, model: Recommender, dataset: RecDataset, model_name: str = "model") -> "ContextBuilder":
        """Build contexts from ``model``'s embeddings, scaled by its mean score of ``dataset``'s training interactions.

        A model whose mean training score is not positive (an untrained one)
        falls back to the median-norm scale.
        """
        user, item = model_embeddings(model, model_name)
        train = dataset.splits == TRAIN
        users, items, scenarios = dataset.users[train], dataset.items[train], dataset.scenarios[train]
        if user.ndim == 3:
            mean_score = float(np.einsum("nd,nd->n", user[users, scenarios], item[items, scenarios]).mean())
        else:
            mean_score = float(np.einsum("nd,nd->n", user[users], item[items]).mean())
        return cls(user, item, dataset.n_scenarios, scale=mean_score if mean_score > 0 else None)

    @property
    def dim(self) -> int:
        return self.embedding_dim + 2 * self.n_scenarios

    def score_direction(self) -> np.ndarray:
        """Return ``w`` with ``x(u, s, i) . w = (e_u . e_i) / c``, the scaled base score."""
        direction = np.zeros(self.dim)
        direction[: self.embedding_dim] = 1.0
        return direction

    def contexts(self, user: int, scenario: int, items: np.ndarray) -> np.ndarray:
        """Return ``[len(items), d + 2S]`` contexts of ``items`` shown to ``user`` in ``scenario``."""
        if not 0 <= scenario < self.n_scenarios:
            raise ValueError(f"scenario {scenario} is outside 0..{self.n_scenarios - 1}")
        if self.user.ndim == 3:
            user_vector, item_vectors = self.user[user, scenario], self.item[items, scenario]
        else:
            user_vector, item_vectors = self.user[user], self.item[items]

        products = item_vectors * user_vector / self.scale
        scores = products.sum(axis=1)

        out = np.zeros((len(items), self.dim))
        out[:, : self.embedding_dim] = products
        out[:, self.embedding_dim + scenario] = scores
        out[:, self.embedding_dim + self.n_scenarios + scenario] = 1.0
        return out
