"""AlphaRec: frozen language-model item embeddings, an MLP and LightGCN propagation.

Sheng et al., "Language Representations Can be What Recommenders Need:
Findings and Potentials" (2024). The model has no free ID embeddings:

1. Item ``i`` starts from its frozen text embedding ``z_i`` (see
   :mod:`graphrec.text`). User ``u`` starts from the mean text embedding of
   their training items, ``z_u = (1 / |N(u)|) sum_{i in N(u)} z_i``.
2. One shared two-layer MLP maps both into the recommendation space,
   ``e^(0) = W_2 LeakyReLU(W_1 z + b_1) + b_2``.
3. ``n_layers`` LightGCN steps propagate ``e^(0)`` over the training graph,
   and the representation is the mean over layers 0..K (as in
   :mod:`graphrec.models.lightgcn`).
4. The score is the cosine similarity ``s(u, i) = cos(h_u, h_i)``, and
   training minimises InfoNCE with temperature ``tau``:

       L = -log( exp(s(u, i+) / tau) / sum_{j in C} exp(s(u, j) / tau) )

Choices of this implementation (the paper's released code may differ):

* Candidates ``C`` are the distinct items among the batch's positives and
  its sampled negatives (the Trainer draws one uniform negative per
  positive), shared by every row of the batch. With the default batch of
  2048, each positive competes with up to 4095 other items (at most the
  catalogue size). Positives of other rows are sampled in proportion to
  popularity, and no log-Q correction is applied. Taking each item once means
  an item never competes with itself. Other false negatives, training items
  of the user that appear as candidates, are kept.
* The MLP width ``hidden_dim`` defaults to 512 and the output to 64
  dimensions; ``tau`` defaults to 0.15 and ``n_layers`` to 2.
* There is no L2 penalty. Use ``train.weight_decay`` to regularise the MLP.
* A user without training interactions starts from a zero text vector and so
  gets the MLP's bias, the same start for every such user.
"""

from __future__ import annotations

import dgl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphrec.data.dataset import RecDataset
from graphrec.errors import ConfigError
from graphrec.models.base import Recommender
from graphrec.models.registry import register_model
from graphrec.nn.lightgcn import LightGCNConv
from graphrec.text.encoders import DEFAULT_ENCODER
from graphrec.text.features import item_text_embeddings, user_mean_embeddings


@register_model("alpharec")
class AlphaRec(Recommender):
    """Text-initialised LightGCN with an MLP projection and a cosine InfoNCE loss (see the module docstring).

    Args:
        text_encoder: ``"minilm"``, ``"tfidf"``, or the folder or cached
            name of a sentence-transformers model (see
            :func:`graphrec.text.encoders.make_encoder`).
        embedding_dim: output size of the MLP.
        hidden_dim: hidden size of the MLP.
        n_layers: number of LightGCN propagation steps K.
        tau: InfoNCE temperature.
    """

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        text_encoder: str = DEFAULT_ENCODER,
        embedding_dim: int = 64,
        hidden_dim: int = 512,
        n_layers: int = 2,
        tau: float = 0.15,
    ):
        super().__init__(dataset, graph)
        if not tau > 0:
            raise ConfigError(f"alpharec tau must be positive, got {tau}")
        self.text_encoder = text_encoder
        self.n_layers = n_layers
        self.tau = tau

        items = item_text_embeddings(dataset, text_encoder)
        users = user_mean_embeddings(dataset, items)
        # The text vectors are derived from the data on every construction, so
        # checkpoints keep only the MLP.
        self.register_buffer("item_text", torch.from_numpy(np.ascontiguousarray(items)), persistent=False)
        self.register_buffer("user_text", torch.from_numpy(users), persistent=False)

        text_dim = items.shape[1]
        self.mlp = nn.Sequential(nn.Linear(text_dim, hidden_dim), nn.LeakyReLU(), nn.Linear(hidden_dim, embedding_dim))
        self.conv = LightGCNConv(graph)
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the unit-norm user ``[U, d]`` and item ``[I, d]`` representations."""
        user, item = self.mlp(self.user_text), self.mlp(self.item_text)
        user_sum, item_sum = user, item
        for _ in range(self.n_layers):
            user, item = self.conv(user, item)
            user_sum = user_sum + user
            item_sum = item_sum + item
        return F.normalize(user_sum, dim=1), F.normalize(item_sum, dim=1)

    def loss(self, users, pos_items, neg_items, scenarios):
        self._cache = None
        user_final, item_final = self.propagate()
        # Each distinct item of the batch is one candidate column, and
        # ``targets[b]`` is the column of row b's positive item.
        candidates, columns = torch.unique(torch.cat([pos_items, neg_items]), return_inverse=True)
        targets = columns[: len(pos_items)]
        logits = user_final[users] @ item_final[candidates].T / self.tau
        return F.cross_entropy(logits, targets)

    @torch.no_grad()
    def prepare_scoring(self) -> None:
        self._cache = self.propagate()

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        if self._cache is None:
            self.prepare_scoring()
        user_final, item_final = self._cache
        return user_final[users] @ item_final.T

    def extra_repr(self) -> str:
        return f"text_encoder={self.text_encoder!r}, text_dim={self.item_text.shape[1]}, tau={self.tau}"
