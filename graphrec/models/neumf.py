"""NeuMF: neural matrix factorisation, a GMF tower and an MLP tower fused by one output layer.

He, Liao, Zhang, Nie, Hu and Chua, "Neural Collaborative Filtering", WWW 2017.
With separate embeddings for the two towers:

    phi_GMF = p_u^G * q_i^G                                   (element-wise product)
    phi_MLP = a_L(W_L^T ( ... a_1(W_1^T [p_u^M; q_i^M] + b_1) ... ) + b_L)
    y_ui    = sigmoid(h^T [phi_GMF; phi_MLP] + b)

with ReLU activations ``a_l``. Training minimises the binary cross-entropy
(the paper's log loss) of ``y_ui`` over observed interactions (label 1) and
sampled unobserved items (label 0). The ranking score is the logit
``h^T [phi_GMF; phi_MLP] + b``, which sorts items as ``y_ui`` does.

Defaults are the hyper-parameters behind RecBole-GNN's ml-1m NeuMF result
(results/general/ml-1m.md in the RecBole-GNN repository): 64-wide embeddings
in both towers, MLP layers ``[32, 16, 8]``, no dropout, no pre-training, one
uniform negative per positive. RecBole's NeuMF.yaml defaults are MLP layers
``[128, 64]`` and dropout 0.1 before every MLP layer.

The first MLP layer is applied as ``W_1u^T p_u + W_1i^T q_i + b_1``, which
equals ``W_1^T [p_u; q_i] + b_1`` with ``W_1 = [W_1u; W_1i]``, so that scoring
every item computes the user and item halves once instead of once per pair.

Negatives: the NCF paper samples four unobserved items per observed one,
while RecBole's default ``neg_sampling: {uniform: 1}`` (overall.yaml) draws
one, and the ml-1m result above uses that default. This model runs its own
epochs (``custom_epoch``) and draws ``n_negatives`` uniform negatives per
training interaction, so ``n_negatives: 4`` gives the paper's setting.
"""

from __future__ import annotations

from typing import ClassVar

import dgl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TRAIN
from graphrec.errors import ConfigError
from graphrec.models.base import Recommender
from graphrec.models.registry import register_model
from graphrec.train.sampling import UniformNegativeSampler

# Cap on the (user, item) pairs that one scoring chunk pushes through the MLP
# tower. Each pair keeps about two floats per MLP unit alive (an estimate:
# 0.45 KB at the default sizes, 1.5 KB at [128, 64]), so a chunk takes tens of MB.
MAX_PAIRS_PER_CHUNK = 1 << 16


def _check_params(
    mf_embedding_dim: int, mlp_embedding_dim: int, mlp_hidden_sizes: tuple[int, ...], dropout: float, n_negatives: int
) -> None:
    if mf_embedding_dim < 1:
        raise ConfigError(f"neumf: mf_embedding_dim must be a positive integer, got {mf_embedding_dim}")
    if mlp_embedding_dim < 1:
        raise ConfigError(f"neumf: mlp_embedding_dim must be a positive integer, got {mlp_embedding_dim}")
    if not mlp_hidden_sizes or any(size < 1 for size in mlp_hidden_sizes):
        raise ConfigError(
            f"neumf: mlp_hidden_sizes must be a non-empty list of positive integers, got {mlp_hidden_sizes}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"neumf: dropout must be in [0, 1), got {dropout}")
    if n_negatives < 1:
        raise ConfigError(f"neumf: n_negatives must be a positive integer, got {n_negatives}")


@register_model("neumf")
class NeuMF(Recommender):
    """NeuMF (He et al., WWW 2017) with log loss on sampled negatives.

    Each epoch visits every training interaction once in an order shuffled
    by the trainer's generator, ``batch_size`` interactions per update, each
    with ``n_negatives`` negatives.

    Args:
        mf_embedding_dim: size of the GMF tower's user and item embeddings.
        mlp_embedding_dim: size of the MLP tower's user and item embeddings.
        mlp_hidden_sizes: output width of each MLP layer, bottom to top.
        dropout: dropout rate on the input of every MLP layer.
        n_negatives: uniform negatives drawn per training interaction.
    """

    custom_epoch: ClassVar[bool] = True

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        mf_embedding_dim: int = 64,
        mlp_embedding_dim: int = 64,
        mlp_hidden_sizes: tuple[int, ...] = (32, 16, 8),
        dropout: float = 0.0,
        n_negatives: int = 1,
    ):
        super().__init__(dataset, graph)
        _check_params(mf_embedding_dim, mlp_embedding_dim, mlp_hidden_sizes, dropout, n_negatives)
        self.n_negatives = n_negatives
        self.mf_embedding_dim = mf_embedding_dim
        self.mlp_output_dim = mlp_hidden_sizes[-1]
        self.user_gmf = nn.Embedding(dataset.n_users, mf_embedding_dim)
        self.item_gmf = nn.Embedding(dataset.n_items, mf_embedding_dim)
        self.user_mlp = nn.Embedding(dataset.n_users, mlp_embedding_dim)
        self.item_mlp = nn.Embedding(dataset.n_items, mlp_embedding_dim)
        self.dropout = nn.Dropout(dropout)

        sizes = list(mlp_hidden_sizes)
        self.mlp_user_in = nn.Linear(mlp_embedding_dim, sizes[0])
        self.mlp_item_in = nn.Linear(mlp_embedding_dim, sizes[0], bias=False)
        self.mlp_upper = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.output = nn.Linear(mf_embedding_dim + sizes[-1], 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw embeddings from N(0, 0.01^2) as RecBole does, Glorot-uniform weights and zero biases."""
        for embedding in (self.user_gmf, self.item_gmf, self.user_mlp, self.item_mlp):
            nn.init.normal_(embedding.weight, std=0.01)
        for layer in (self.mlp_user_in, self.mlp_item_in, *self.mlp_upper, self.output):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def _mlp_tower(self, user_part: torch.Tensor, item_part: torch.Tensor) -> torch.Tensor:
        """Run the MLP tower from the first layer's user and item halves (broadcast against each other)."""
        hidden = F.relu(user_part + item_part)
        for layer in self.mlp_upper:
            hidden = F.relu(layer(self.dropout(hidden)))
        return hidden

    def logits(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Return the logit of each aligned (user, item) pair, where ``items`` may have extra trailing dims."""
        while users.dim() < items.dim():
            users = users.unsqueeze(-1)
        users = users.expand_as(items)
        gmf = self.user_gmf(users) * self.item_gmf(items)
        user_part = self.mlp_user_in(self.dropout(self.user_mlp(users)))
        item_part = self.mlp_item_in(self.dropout(self.item_mlp(items)))
        mlp = self._mlp_tower(user_part, item_part)
        return self.output(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    def loss(self, users, pos_items, neg_items, scenarios):
        """Return the mean log loss over the positives (label 1) and the negatives (label 0).

        ``neg_items`` is ``[B]`` (the BPR trainer's one negative) or ``[B, n]``.
        """
        pos = self.logits(users, pos_items)
        neg = self.logits(users, neg_items)
        losses = torch.cat(
            [
                F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos), reduction="none").reshape(-1),
                F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg), reduction="none").reshape(-1),
            ]
        )
        return losses.mean()

    def train_epoch(
        self, dataset: RecDataset, optimizer: torch.optim.Optimizer, rng: np.random.Generator, batch_size: int
    ) -> float:
        train = dataset.splits == TRAIN
        users, items = dataset.users[train], dataset.items[train]
        sampler = UniformNegativeSampler(dataset.train_matrix, rng)
        order = rng.permutation(len(users))
        total, batches = 0.0, 0
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch_users = users[rows]
            negatives = sampler.sample(np.repeat(batch_users, self.n_negatives)).reshape(len(rows), self.n_negatives)
            loss = self.loss(
                torch.from_numpy(batch_users), torch.from_numpy(items[rows]), torch.from_numpy(negatives), None
            )

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

            total += float(loss.detach())
            batches += 1
        return total / max(batches, 1)

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        item_gmf = self.item_gmf.weight
        item_part = self.mlp_item_in(self.dropout(self.item_mlp.weight))
        gmf_weight, mlp_weight = self.output.weight[0].split([self.mf_embedding_dim, self.mlp_output_dim])
        chunk = max(1, MAX_PAIRS_PER_CHUNK // self.n_items)

        blocks = []
        for start in range(0, len(users), chunk):
            batch = users[start : start + chunk]
            gmf = (self.user_gmf(batch) * gmf_weight) @ item_gmf.T
            user_part = self.mlp_user_in(self.dropout(self.user_mlp(batch)))
            mlp = self._mlp_tower(user_part[:, None, :], item_part[None, :, :]) @ mlp_weight
            blocks.append(gmf + mlp + self.output.bias)
        return torch.cat(blocks) if blocks else torch.zeros(0, self.n_items)
