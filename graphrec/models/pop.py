"""Most-popular baseline: every user gets items ranked by training interaction count."""

from __future__ import annotations

from typing import ClassVar

import dgl
import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.models.base import Recommender
from graphrec.models.registry import register_model


@register_model("pop")
class Pop(Recommender):
    """Score = number of training interactions of the item (the same for every user)."""

    trainable: ClassVar[bool] = False

    def __init__(self, dataset: RecDataset, graph: dgl.DGLGraph):
        super().__init__(dataset, graph)
        self.register_buffer("counts", torch.zeros(dataset.n_items))

    def fit(self, dataset: RecDataset) -> None:
        counts = np.asarray(dataset.train_matrix.sum(axis=0)).ravel()
        self.counts = torch.from_numpy(counts.astype(np.float32))

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        return self.counts.expand(len(users), -1)
