"""LightGCN trained on neighbour-sampled blocks, scored with full-graph propagation.

The model is LightGCN (He et al., SIGIR 2020): ``e^(k+1)_v = sum_{w in N(v)}
e^(k)_w / sqrt(|N(v)| |N(w)|)`` (equation 3) and ``e_v = 1/(K+1) sum_k
e^(k)_v`` (equation 4). Only training differs from
:class:`graphrec.models.lightgcn.LightGCN`. Each mini-batch computes the
representations of its users and items on DGL blocks with at most
``fanouts[l]`` sampled neighbours per node at layer ``l``. Each sampled sum
is scaled by ``|N(v)| / k``, which makes it an unbiased estimate of the
full-graph sum (see :func:`graphrec.train.sampled_trainer.block_weights`).
With ``fanouts=None`` the blocks keep every neighbour and a batch's
representations equal the full-graph ones.

Scoring and evaluation propagate over the whole training graph once
(``prepare_scoring``), as LightGCN does.
"""

from __future__ import annotations

import dgl
import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.models.base import bpr_loss, l2_penalty
from graphrec.models.lightgcn import LightGCN
from graphrec.models.registry import register_model
from graphrec.train.sampled_trainer import (
    NeighbourSampledBatches,
    SampledBatch,
    make_sampler,
    propagate_blocks,
    run_sampled_epoch,
)


@register_model("lightgcn-sampled")
class SampledLightGCN(LightGCN):
    """LightGCN with neighbour-sampled mini-batch training.

    Args:
        embedding_dim: size of the layer-0 embeddings.
        n_layers: number of propagation steps K.
        reg_weight: weight of the L2 penalty on the batch's layer-0 embeddings.
        fanouts: neighbours sampled per node at each of the ``n_layers``
            layers, from the input layer to the output layer; -1 takes all
            neighbours of that layer, and None takes all at every layer.
    """

    custom_epoch = True

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        embedding_dim: int = 64,
        n_layers: int = 3,
        reg_weight: float = 1e-4,
        fanouts: list[int] | None = None,
    ):
        super().__init__(dataset, graph, embedding_dim=embedding_dim, n_layers=n_layers, reg_weight=reg_weight)
        make_sampler(fanouts, n_layers)  # raises ConfigError for invalid fanouts before any training
        self.fanouts = None if fanouts is None else list(fanouts)
        self._graph = graph
        self._batches: NeighbourSampledBatches | None = None

    def layer0(self, nodes: torch.Tensor) -> torch.Tensor:
        """Return the layer-0 embeddings of homogeneous node ids (users first, then items)."""
        is_user = nodes < self.n_users
        rows = torch.empty(len(nodes), self.user_emb.embedding_dim)
        rows[is_user] = self.user_emb(nodes[is_user])
        rows[~is_user] = self.item_emb(nodes[~is_user] - self.n_users)
        return rows

    def sampled_loss(self, batch: SampledBatch, degree: torch.Tensor) -> torch.Tensor:
        """Return the BPR loss plus the L2 penalty of one sampled batch, as :meth:`LightGCN.loss` computes them."""
        final = propagate_blocks(self.layer0(batch.input_nodes), batch.blocks, degree)
        user = final[batch.user_rows]
        ranking = bpr_loss((user * final[batch.pos_rows]).sum(1), (user * final[batch.neg_rows]).sum(1))
        penalty = l2_penalty(self.user_emb(batch.users), self.item_emb(batch.pos_items), self.item_emb(batch.neg_items))
        return ranking + self.reg_weight * penalty

    def train_epoch(
        self, dataset: RecDataset, optimizer: torch.optim.Optimizer, rng: np.random.Generator, batch_size: int
    ) -> float:
        self._cache = None
        if self._batches is None:
            self._batches = NeighbourSampledBatches(dataset, self._graph, self.fanouts, self.n_layers)
        degree = self._batches.graph.ndata["degree"]
        return run_sampled_epoch(
            self._batches.epoch(rng, batch_size), lambda batch: self.sampled_loss(batch, degree), optimizer
        )
