"""The Recommender interface shared by every model."""

from __future__ import annotations

from typing import ClassVar

import dgl
import numpy as np
import torch
from torch import nn

from graphrec.data.dataset import RecDataset


class Recommender(nn.Module):
    """Base class: a model that scores every item for a batch of users.

    Ranking, masking of seen items and metrics live in :mod:`graphrec.eval`;
    a model only produces scores. Hyper-parameters are keyword-only
    constructor arguments with type annotations and defaults, which the config
    validator reads.

    ``trainable`` models implement :meth:`loss` and are fitted by
    :class:`graphrec.train.trainer.Trainer`; the others implement :meth:`fit`.
    """

    trainable: ClassVar[bool] = True
    #: True when the model runs its own epochs through :meth:`train_epoch`
    #: instead of the Trainer's (user, positive, negative) batches.
    custom_epoch: ClassVar[bool] = False

    def __init__(self, dataset: RecDataset, graph: dgl.DGLGraph):
        super().__init__()
        self.n_users = dataset.n_users
        self.n_items = dataset.n_items
        self.n_scenarios = dataset.n_scenarios

    def fit(self, dataset: RecDataset) -> None:
        """Fit a model that needs no gradient training (for example Pop)."""
        raise NotImplementedError(f"{type(self).__name__} is trained by the Trainer")

    def loss(
        self, users: torch.Tensor, pos_items: torch.Tensor, neg_items: torch.Tensor, scenarios: torch.Tensor
    ) -> torch.Tensor:
        """Return the training loss for a batch of (user, positive, negative) triples."""
        raise NotImplementedError

    def train_epoch(
        self, dataset: RecDataset, optimizer: torch.optim.Optimizer, rng: np.random.Generator, batch_size: int
    ) -> float:
        """Run one training epoch with the model's own batching and return its mean loss.

        Only called when ``custom_epoch`` is True, for models whose loss does
        not fit (user, positive, negative) triples, such as Mult-VAE, which
        reads whole user rows. Draw all randomness from ``rng`` or torch's
        global generator, so that seeds repeat and resumed runs match.
        """
        raise NotImplementedError(f"{type(self).__name__} sets custom_epoch but does not implement train_epoch")

    def prepare_scoring(self) -> None:
        """Compute whatever :meth:`score` reuses across batches (called before evaluation)."""

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        """Return scores ``[len(users), n_items]``.

        With ``scenario=None`` the model scores in each user's own context;
        with a scenario id it scores as if every interaction happened there.
        """
        raise NotImplementedError


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking loss, ``-mean(log sigmoid(pos - neg))`` (Rendle et al., UAI 2009)."""
    return -torch.nn.functional.logsigmoid(pos_scores - neg_scores).mean()


def l2_penalty(*embeddings: torch.Tensor) -> torch.Tensor:
    """Half the summed squared L2 norm of the given batch embeddings, per batch row."""
    batch = embeddings[0].shape[0]
    return 0.5 * sum(e.pow(2).sum() for e in embeddings) / batch
