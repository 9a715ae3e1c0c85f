"""Mini-batch BPR epochs on neighbour-sampled blocks, for graphs too large for full-graph training.

Full-graph training propagates over every interaction once per mini-batch. A
neighbour-sampled epoch instead builds, for each batch of (user, positive,
negative) triples, DGL message-flow blocks that reach only the nodes within
``n_layers`` hops of the batch, with at most ``fanouts[l]`` sampled
neighbours per node at layer ``l`` (``dgl.dataloading.NeighborSampler``).
Memory and time per batch then grow with the fanouts and the batch size, not
with the graph.

Users are nodes ``0..n_users-1`` and items ``n_users..n_users+n_items-1`` of
one homogeneous graph with both directions of every training interaction.
A model runs its layers on the blocks with :func:`block_weights` as edge
weights and is trained by :func:`run_sampled_epoch`, called from its
``train_epoch`` so that graphrec's Trainer keeps early stopping and
checkpoints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dgl
import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TRAIN
from graphrec.errors import ConfigError
from graphrec.nn.sparse import SparseOperator
from graphrec.train.sampling import UniformNegativeSampler

logger = logging.getLogger(__name__)

# Exclusive upper bound of the per-epoch seeds drawn for dgl.seed (the int32 range).
_DGL_SEED_LIMIT = 2**31 - 1


def user_item_graph(graph: dgl.DGLGraph) -> dgl.DGLGraph:
    """Return the homogeneous user-item graph of the heterograph's ``interacts`` edges.

    Node ``u`` is user ``u`` and node ``n_users + i`` is item ``i``. Every
    training interaction gives an edge in each direction, so the in-neighbours
    of a user are its items and those of an item are its users. The node data
    ``degree`` (float32) is each node's in-degree, the ``|N(v)|`` of
    LightGCN's normalisation.
    """
    users, items = graph.edges(etype="interacts")
    n_users = graph.num_nodes("user")
    item_nodes = items + n_users
    homogeneous = dgl.graph(
        (torch.cat([users, item_nodes]), torch.cat([item_nodes, users])),
        num_nodes=n_users + graph.num_nodes("item"),
    )
    homogeneous.ndata["degree"] = homogeneous.in_degrees().float()
    return homogeneous


def make_sampler(fanouts: list[int] | None, n_layers: int) -> dgl.dataloading.Sampler:
    """Return a block sampler with ``n_layers`` layers.

    ``fanouts`` lists the neighbours sampled per node at each layer, from the
    input layer to the output layer as in DGL; -1 takes all of them. None
    takes all neighbours at every layer.
    """
    if fanouts is None:
        return dgl.dataloading.MultiLayerFullNeighborSampler(n_layers)
    if len(fanouts) != n_layers or any(f == 0 or f < -1 for f in fanouts):
        raise ConfigError(
            f"fanouts must list one positive number or -1 (all neighbours) per layer, "
            f"{n_layers} in all, got {fanouts}"
        )
    return dgl.dataloading.NeighborSampler(list(fanouts))


def block_weights(block: dgl.DGLGraph, degree) -> torch.Tensor:
    """Return the edge weights that make a sampled block an unbiased LightGCN step.

    The full-graph weight is ``1 / sqrt(|N(src)| |N(dst)|)``. A destination
    that kept ``k`` of its ``|N(dst)|`` neighbours has its sum scaled by
    ``|N(dst)| / k``, so the expected value of the sampled sum is the
    full-graph sum. With all neighbours kept the factor is 1 and the block
    step equals the full-graph step. ``degree`` maps node ids to full-graph
    degrees: a tensor over all nodes, or a DistTensor.
    """
    src, dst = block.edges()
    src_degree = degree[block.srcdata[dgl.NID]][src]
    dst_degree = degree[block.dstdata[dgl.NID]]
    kept = block.in_degrees().float().clamp_min(1.0)
    scale = dst_degree / kept
    return (src_degree * dst_degree[dst]).rsqrt() * scale[dst]


def propagate_blocks(layer0: torch.Tensor, blocks: list[dgl.DGLGraph], degree) -> torch.Tensor:
    """Return the LightGCN layer mean ``1/(K+1) sum_k e^(k)`` of the last block's destination nodes.

    ``layer0`` contains the layer-0 embeddings of the first block's source
    nodes, and ``degree`` maps a node id to its full-graph degree (a tensor,
    or a DistTensor in distributed training). The destinations of every block
    are the first rows of its sources, so the batch's own nodes stay the
    first rows at every layer. Each step is a torch sparse CSR product.
    """
    n_outputs = blocks[-1].num_dst_nodes()
    hidden = layer0
    total = hidden[:n_outputs]
    for block in blocks:
        src, dst = block.edges()
        shape = (block.num_dst_nodes(), block.num_src_nodes())
        hidden = SparseOperator(dst, src, block_weights(block, degree), shape)(hidden)
        total = total + hidden[:n_outputs]
    return total / (len(blocks) + 1)


@dataclass
class SampledBatch:
    """One mini-batch of BPR triples with the blocks that compute its nodes' representations.

    ``input_nodes`` are the homogeneous node ids whose layer-0 embeddings the
    first block reads, and the first ``n_outputs`` of them are the batch's own
    nodes, in the order of the last block's destinations. ``user_rows``,
    ``pos_rows`` and ``neg_rows`` index those outputs for each triple.
    ``users``, ``pos_items`` and ``neg_items`` are the triples' user and item
    indices.
    """

    input_nodes: torch.Tensor
    blocks: list[dgl.DGLGraph]
    user_rows: torch.Tensor
    pos_rows: torch.Tensor
    neg_rows: torch.Tensor
    users: torch.Tensor
    pos_items: torch.Tensor
    neg_items: torch.Tensor

    @property
    def n_outputs(self) -> int:
        return self.blocks[-1].num_dst_nodes()


class NeighbourSampledBatches:
    """Yields the neighbour-sampled mini-batches of one epoch over the training interactions.

    Args:
        dataset: the split dataset; its training interactions are the positives.
        graph: heterograph from :func:`graphrec.graph.build.build_graph`.
        fanouts: neighbours per node and layer (see :func:`make_sampler`).
        n_layers: number of blocks per batch.
    """

    def __init__(self, dataset: RecDataset, graph: dgl.DGLGraph, fanouts: list[int] | None, n_layers: int):
        train = dataset.splits == TRAIN
        self.users = dataset.users[train]
        self.items = dataset.items[train]
        self.n_users = dataset.n_users
        self.graph = user_item_graph(graph)
        self.sampler = make_sampler(fanouts, n_layers)
        self.negatives = UniformNegativeSampler(dataset.train_matrix, np.random.default_rng(0))

    def epoch(self, rng: np.random.Generator, batch_size: int) -> Iterator[SampledBatch]:
        """Yield the batches of one pass over the training interactions in random order.

        The order, the negatives and DGL's neighbour sampling (seeded once per
        epoch) all draw from ``rng``, so a seed repeats the epoch exactly.
        NOTE: only with one thread: DGL samples in parallel with a generator per
        thread, and with several threads the draws vary from run to run.
        """
        self.negatives.rng = rng
        dgl.seed(int(rng.integers(_DGL_SEED_LIMIT)))
        order = rng.permutation(len(self.users))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            users = self.users[rows]
            yield self._batch(users, self.items[rows], self.negatives.sample(users))

    def _batch(self, users: np.ndarray, pos_items: np.ndarray, neg_items: np.ndarray) -> SampledBatch:
        users_t = torch.from_numpy(users)
        pos_t = torch.from_numpy(pos_items)
        neg_t = torch.from_numpy(neg_items)
        nodes = torch.cat([users_t, pos_t + self.n_users, neg_t + self.n_users])
        seeds, position = torch.unique(nodes, return_inverse=True)
        input_nodes, output_nodes, blocks = self.sampler.sample(self.graph, seeds)
        # DGL 2.1 keeps the seeds in the given order as the last block's
        # destinations. The row indices below rely on it, so a DGL version
        # that reorders them fails here.
        if not torch.equal(output_nodes, seeds):
            raise RuntimeError("DGL returned the output nodes of a sampled batch in another order than the seeds")
        n = len(users)
        return SampledBatch(
            input_nodes, blocks, position[:n], position[n : 2 * n], position[2 * n :], users_t, pos_t, neg_t
        )


def run_sampled_epoch(
    batches: Iterator[SampledBatch],
    loss_fn: Callable[[SampledBatch], torch.Tensor],
    optimizer: torch.optim.Optimizer,
) -> float:
    """Take one optimizer step per batch on ``loss_fn(batch)`` and return the mean loss."""
    total, count = 0.0, 0
    for batch in batches:
        loss = loss_fn(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        count += 1
    return total / max(count, 1)
