"""Mult-VAE: a variational autoencoder over each user's row of training interactions.

Liang, Krishnan, Hoffman and Jebara, "Variational Autoencoders for
Collaborative Filtering", WWW 2018. For the binary training row ``x_u``
(one entry per item):

    encoder:  h = tanh(W_1 dropout(x_u / ||x_u||_2) + b_1),  [mu_u, log sigma_u^2] = W_2 h + b_2
    sampling: z_u = mu_u + sigma_u * epsilon,  epsilon ~ N(0, I)   (z_u = mu_u when scoring)
    decoder:  pi(z_u) = softmax(W_4 tanh(W_3 z_u + b_3) + b_4)

Training maximises the annealed evidence lower bound

    L_beta(u) = sum_i x_ui log pi_i(z_u) - beta * KL(N(mu_u, sigma_u^2) || N(0, I)),

with ``beta = min(anneal_cap, step / total_anneal_steps)`` rising by one step
per optimiser update (KL annealing). The score of user
``u`` for item ``i`` is the decoder logit of ``mu_u`` computed from ``u``'s
training row, without input dropout.

Defaults follow the paper's architecture ``[I -> 600 -> 200 -> 600 -> I]``
with input dropout 0.5, and RecBole's MultiVAE config for the annealing
(``anneal_cap: 0.2``, ``total_anneal_steps: 200000``).
NOTE: RecBole's MultiVAE (model file and default config in RecBole's GitHub
repository) differs from the paper in two ways. It splits its
``latent_dimension: 128`` into a 64-wide mean and a 64-wide log-variance, and
it draws ``epsilon`` with standard deviation 0.01 instead of 1. This module
follows the paper in both.
"""

from __future__ import annotations

import math
from typing import ClassVar

import dgl
import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from graphrec.data.dataset import RecDataset
from graphrec.errors import ConfigError
from graphrec.models.base import Recommender
from graphrec.models.registry import register_model


def multinomial_nll(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Return ``-mean_u sum_i x_ui log softmax(logits_u)_i``, the negative multinomial log-likelihood."""
    return -(F.log_softmax(logits, dim=1) * rows).sum(dim=1).mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Return ``mean_u KL(N(mu_u, exp(logvar_u)) || N(0, I))``, summed over latent dimensions."""
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=1).mean()


def _check_params(
    hidden_dim: int, latent_dim: int, dropout: float, anneal_cap: float, total_anneal_steps: int
) -> None:
    if hidden_dim < 1:
        raise ConfigError(f"mult-vae: hidden_dim must be a positive integer, got {hidden_dim}")
    if latent_dim < 1:
        raise ConfigError(f"mult-vae: latent_dim must be a positive integer, got {latent_dim}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"mult-vae: dropout must be in [0, 1), got {dropout}")
    if not math.isfinite(anneal_cap) or anneal_cap < 0:
        raise ConfigError(f"mult-vae: anneal_cap must be a finite number >= 0, got {anneal_cap}")
    if total_anneal_steps < 0:
        raise ConfigError(
            f"mult-vae: total_anneal_steps must be >= 0 (0 uses beta = anneal_cap from the start), "
            f"got {total_anneal_steps}"
        )


@register_model("mult-vae")
class MultVAE(Recommender):
    """Mult-VAE (Liang et al., WWW 2018) trained on whole user rows.

    Each epoch visits the users with at least one training interaction in an
    order shuffled by the trainer's generator, ``batch_size`` users per
    optimiser update, so ``train.batch_size`` counts users for this model
    (the paper uses 500).

    Args:
        hidden_dim: width of the encoder's and the decoder's hidden layer.
        latent_dim: size of ``z_u`` (the encoder outputs twice this many
            values, a mean and a log-variance per dimension).
        dropout: input dropout rate on the normalised user row.
        anneal_cap: the largest KL weight ``beta``.
        total_anneal_steps: updates over which ``beta`` rises linearly from 0
            to 1 before the cap applies; 0 sets ``beta = anneal_cap`` from the
            first update.
    """

    custom_epoch: ClassVar[bool] = True

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        hidden_dim: int = 600,
        latent_dim: int = 200,
        dropout: float = 0.5,
        anneal_cap: float = 0.2,
        total_anneal_steps: int = 200000,
    ):
        super().__init__(dataset, graph)
        _check_params(hidden_dim, latent_dim, dropout, anneal_cap, total_anneal_steps)
        self.latent_dim = latent_dim
        self.anneal_cap = anneal_cap
        self.total_anneal_steps = total_anneal_steps
        self.input_dropout = nn.Dropout(dropout)
        self.encoder = nn.Sequential(
            nn.Linear(dataset.n_items, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, 2 * latent_dim)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, dataset.n_items)
        )
        # The number of optimiser updates so far. It lives in the state dict,
        # so a resumed run continues the annealing where it stopped.
        self.register_buffer("anneal_step", torch.zeros((), dtype=torch.long))
        self.train_rows: sp.csr_matrix = dataset.train_matrix
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw Glorot-normal weights and small normal biases (standard deviation 0.001)."""
        for layer in (*self.encoder, *self.decoder):
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight)
                nn.init.normal_(layer.bias, std=0.001)

    def beta(self) -> float:
        """Return the KL weight for the next update: ``min(anneal_cap, step / total_anneal_steps)``."""
        if self.total_anneal_steps == 0:
            return self.anneal_cap
        return min(self.anneal_cap, int(self.anneal_step) / self.total_anneal_steps)

    def encode(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the posterior mean and log-variance ``[B, latent_dim]`` of binary rows ``[B, n_items]``."""
        hidden = self.input_dropout(F.normalize(rows, dim=1))
        out = self.encoder(hidden)
        return out[:, : self.latent_dim], out[:, self.latent_dim :]

    def forward(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the decoder logits, ``mu`` and ``logvar`` of ``rows``.

        In training mode ``z`` is sampled with the reparameterisation trick and
        the input dropout is active. In eval mode ``z = mu`` and there is no dropout.
        """
        mu, logvar = self.encode(rows)
        z = mu
        if self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar

    def rows_of(self, users: np.ndarray) -> torch.Tensor:
        """Return the dense binary training rows ``[len(users), n_items]`` of ``users``."""
        return torch.from_numpy(self.train_rows[users].toarray().astype(np.float32))

    def train_epoch(
        self, dataset: RecDataset, optimizer: torch.optim.Optimizer, rng: np.random.Generator, batch_size: int
    ) -> float:
        self.train_rows = dataset.train_matrix
        active = np.flatnonzero(np.diff(self.train_rows.indptr) > 0)
        order = rng.permutation(active)
        total, batches = 0.0, 0
        for start in range(0, len(order), batch_size):
            rows = self.rows_of(order[start : start + batch_size])
            logits, mu, logvar = self(rows)
            loss = multinomial_nll(logits, rows) + self.beta() * gaussian_kl(mu, logvar)

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            self.anneal_step += 1

            total += float(loss.detach())
            batches += 1
        return total / max(batches, 1)

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        rows = self.rows_of(users.numpy())
        mu, _ = self.encoder(F.normalize(rows, dim=1)).split(self.latent_dim, dim=1)
        return self.decoder(mu)
