"""SimGCL: LightGCN with contrast between two noise-perturbed views.

Yu, Yin, Xia, Chen, Cui and Nguyen, "Are Graph Augmentations Necessary?
Simple Graph Contrastive Learning for Recommendation", SIGIR 2022.

A perturbed view adds, after every LightGCN propagation step, a random
vector of length ``eps`` that points into the embedding's orthant:

    e^(k)' = e^(k) + sign(e^(k)) * eps * normalize(r),  r ~ U(0, 1)^d

and averages the perturbed layers 1..K (layer 0 is left out). Two
independently perturbed views ``z'`` and ``z''`` of the batch's distinct
users, and of its distinct positive items, are contrasted with InfoNCE at
temperature ``tau``:

    L_cl = sum_{i in B} -log( exp(<z'_i, z''_i> / tau) / sum_{j in B} exp(<z'_i, z''_j> / tau) )

on L2-normalised vectors. The total loss is the LightGCN loss of the clean
(unperturbed) view, ``BPR + reg_weight * L2``, plus ``cl_weight * (L_cl(users) + L_cl(items))``.
Scores use the clean view, so scoring is LightGCN's.

Defaults are the hyper-parameters behind RecBole-GNN's ml-1m SimGCL result
(results/general/ml-1m.md in the RecBole-GNN repository: ``n_layers=2``,
``reg_weight=1e-4``, ``lambda=1e-5``, ``temperature=0.05``, ``eps=0.1``, 64-wide
embeddings), not its SimGCL.yaml defaults (``lambda: 0.5``, ``temperature: 0.2``).
As in RecBole-GNN, the clean view's mean includes layer 0, the perturbed
views' mean leaves it out, and ``L_cl`` sums (does not average) over the
batch, which sets the scale of ``cl_weight``. With that sum, the yaml's
``lambda: 0.5`` and ``temperature: 0.2`` swamp the BPR term. A 20-epoch
``graphrec benchmark`` run on ml-100k under the protocol of
benchmarks/configs/ml100k-neural.yaml (learning rate 0.005, batch size 2048)
reached test NDCG@10 0.012 with them.
NOTE: RecBole-GNN contrasts the batch's user and item columns as they come,
so a user with several interactions in the batch appears several times in
the denominator. This module deduplicates them first, which shrinks the sum
by the batch's repeat factor.
"""

from __future__ import annotations

import math

import dgl
import torch
import torch.nn.functional as F

from graphrec.data.dataset import RecDataset
from graphrec.errors import ConfigError
from graphrec.models.lightgcn import LightGCN
from graphrec.models.registry import register_model


def info_nce(view_a: torch.Tensor, view_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Return the InfoNCE loss of row ``i`` of ``view_a`` against all rows of ``view_b``, summed over rows.

    Row ``i`` of ``view_b`` is the positive of row ``i`` of ``view_a`` and the
    other rows are its negatives. Both views are L2-normalised first.
    """
    logits = F.normalize(view_a, dim=1) @ F.normalize(view_b, dim=1).T / temperature
    return -torch.diagonal(F.log_softmax(logits, dim=1)).sum()


def perturb(embeddings: torch.Tensor, eps: float) -> torch.Tensor:
    """Add ``sign(e) * eps * normalize(r)`` with ``r ~ U(0, 1)^d`` drawn per row from torch's generator."""
    noise = F.normalize(torch.rand_like(embeddings), dim=1)
    return embeddings + torch.sign(embeddings) * noise * eps


@register_model("simgcl")
class SimGCL(LightGCN):
    """SimGCL (Yu et al., SIGIR 2022): LightGCN's BPR loss plus InfoNCE between noisy views.

    Args:
        embedding_dim: size of the layer-0 embeddings.
        n_layers: number of propagation steps K (at least 1).
        reg_weight: weight of the L2 penalty on the batch's layer-0 embeddings.
        cl_weight: weight ``lambda`` of the contrastive loss.
        eps: length of the noise vector added after each step.
        temperature: InfoNCE temperature ``tau``.
    """

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        embedding_dim: int = 64,
        n_layers: int = 2,
        reg_weight: float = 1e-4,
        cl_weight: float = 1e-5,
        eps: float = 0.1,
        temperature: float = 0.05,
    ):
        if n_layers < 1:
            raise ConfigError(f"simgcl: n_layers must be >= 1 because the views perturb propagated layers, got {n_layers}")
        if not math.isfinite(eps) or eps < 0:
            raise ConfigError(f"simgcl: eps must be a finite number >= 0, got {eps}")
        if not math.isfinite(temperature) or temperature <= 0:
            raise ConfigError(f"simgcl: temperature must be a finite number > 0, got {temperature}")
        super().__init__(dataset, graph, embedding_dim=embedding_dim, n_layers=n_layers, reg_weight=reg_weight)
        self.cl_weight = cl_weight
        self.eps = eps
        self.temperature = temperature

    def propagate_perturbed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return one noisy view: the mean of the perturbed layers 1..K for users and items."""
        user, item = self.user_emb.weight, self.item_emb.weight
        user_sum = torch.zeros_like(user)
        item_sum = torch.zeros_like(item)
        for _ in range(self.n_layers):
            user, item = self.conv(user, item)
            user, item = perturb(user, self.eps), perturb(item, self.eps)
            user_sum = user_sum + user
            item_sum = item_sum + item
        return user_sum / self.n_layers, item_sum / self.n_layers

    def contrastive_loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Return ``L_cl(users) + L_cl(items)`` between two fresh perturbed views."""
        users, items = torch.unique(users), torch.unique(items)
        user_a, item_a = self.propagate_perturbed()
        user_b, item_b = self.propagate_perturbed()
        user_loss = info_nce(user_a[users], user_b[users], self.temperature)
        item_loss = info_nce(item_a[items], item_b[items], self.temperature)
        return user_loss + item_loss

    def loss(self, users, pos_items, neg_items, scenarios):
        ranking = super().loss(users, pos_items, neg_items, scenarios)
        return ranking + self.cl_weight * self.contrastive_loss(users, pos_items)
