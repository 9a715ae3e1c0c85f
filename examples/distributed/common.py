"""Training code shared by the single-process and the distributed run of the example.

Both runs train the same model the same way: LightGCN embeddings (He et al.,
SIGIR 2020, equations 3 and 4) with the BPR loss on a homogeneous user-item
graph, users ``0..n_users-1`` and items after them. A step takes a batch of
users, all of their training interactions as positives (the in-edges of the
users), one uniform random item per positive as its negative, and propagates
over full-neighbour blocks. Embeddings and the sparse Adam optimizer come
from DGL: ``dgl.nn.NodeEmbedding`` and ``dgl.optim.SparseAdam`` in one
process, ``dgl.distributed.DistEmbedding`` and
``dgl.distributed.optim.SparseAdam`` across trainers. Only the rows of a
batch are read and updated in either case.

NOTE: DGL 2.1's distributed SparseAdagrad does not train on CPU. Its update
takes the square root of the gradient-square sum in place after
``.to("cpu")``, which returns the same tensor on CPU, so the stored sum
becomes its own square root. Here the loss stayed at 0.68 with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import dgl
import numpy as np
import torch

from graphrec.data.dataset import RecDataset, build_dataset
from graphrec.data.scenarios import assign_scenarios
from graphrec.data.split import TEST
from graphrec.data.synthetic import SyntheticConfig, generate_synthetic
from graphrec.eval.evaluator import OVERALL, evaluate_model
from graphrec.graph.build import build_graph
from graphrec.models.base import bpr_loss, l2_penalty
from graphrec.models.lightgcn import LightGCN
from graphrec.train.sampled_trainer import propagate_blocks, user_item_graph

GRAPH_NAME = "graphrec-example"
METRICS = ("recall", "ndcg")
K = 20

# A sampling function with the signature of dgl.sampling.sample_neighbors and
# dgl.distributed.sample_neighbors: (graph, nodes, fanout) -> frontier graph.
SampleFn = Callable[[object, torch.Tensor, int], dgl.DGLGraph]


@dataclass
class Settings:
    """Data and training settings of one example run; run.py writes them to settings.json for the trainers."""

    n_users: int = 2_000
    n_items: int = 1_000
    n_interactions: int = 60_000
    data_seed: int = 0
    embedding_dim: int = 32
    n_layers: int = 1
    epochs: int = 20
    batch_users: int = 64
    learning_rate: float = 0.005
    reg_weight: float = 1e-4
    train_seed: int = 0

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "Settings":
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def make_dataset(settings: Settings) -> RecDataset:
    """Generate the synthetic interactions and split each user's 80/10/10 at random."""
    config = SyntheticConfig(
        n_users=settings.n_users,
        n_items=settings.n_items,
        n_interactions=settings.n_interactions,
        seed=settings.data_seed,
    )
    raw = generate_synthetic(config)
    return build_dataset(raw, assign_scenarios("column:scenario", raw), (0.8, 0.1, 0.1), settings.data_seed)


def training_graph(dataset: RecDataset) -> dgl.DGLGraph:
    """Return the homogeneous graph of the training interactions with ``degree``, ``is_user`` and ``is_item``."""
    graph = user_item_graph(build_graph(dataset))
    is_user = torch.arange(graph.num_nodes()) < dataset.n_users
    graph.ndata["is_user"] = is_user.to(torch.int32)
    graph.ndata["is_item"] = (~is_user).to(torch.int32)
    return graph


INIT_STD = 0.1


def init_embeddings(shape, dtype) -> torch.Tensor:
    """Return initial embedding values, normal with standard deviation INIT_STD (DistEmbedding's init_func)."""
    return torch.randn(shape, dtype=dtype) * INIT_STD


def init_embeddings_in_place(table: torch.Tensor) -> torch.Tensor:
    """Fill ``table`` as init_embeddings does (NodeEmbedding's init_func, which receives the table)."""
    return table.normal_(0.0, INIT_STD)


def full_neighbour_blocks(sample_fn: SampleFn, graph, seeds: torch.Tensor, n_layers: int):
    """Return the input nodes and the ``n_layers`` blocks that hold every neighbour of ``seeds``."""
    blocks = []
    for _ in range(n_layers):
        frontier = sample_fn(graph, seeds, -1)
        block = dgl.to_block(frontier, seeds)
        seeds = block.srcdata[dgl.NID]
        blocks.insert(0, block)
    return seeds, blocks


def batch_loss(
    embedding: Callable[[torch.Tensor], torch.Tensor],
    sample_fn: SampleFn,
    graph,
    degree,
    users: torch.Tensor,
    item_nodes: torch.Tensor,
    settings: Settings,
    generator: torch.Generator,
) -> torch.Tensor:
    """Return the BPR loss plus the L2 penalty of the training interactions of ``users``."""
    frontier = sample_fn(graph, users, -1)
    pos_items, pos_users = frontier.edges()
    negatives = item_nodes[torch.randint(len(item_nodes), (len(pos_items),), generator=generator)]
    seeds, position = torch.unique(torch.cat([pos_users, pos_items, negatives]), return_inverse=True)

    input_nodes, blocks = full_neighbour_blocks(sample_fn, graph, seeds, settings.n_layers)
    layer0 = embedding(input_nodes)
    final = propagate_blocks(layer0, blocks, degree)
    n = len(pos_items)
    user_rows, pos_rows, neg_rows = position[:n], position[n : 2 * n], position[2 * n :]
    user = final[user_rows]
    ranking = bpr_loss((user * final[pos_rows]).sum(1), (user * final[neg_rows]).sum(1))
    penalty = l2_penalty(layer0[user_rows], layer0[pos_rows], layer0[neg_rows])
    return ranking + settings.reg_weight * penalty


def train(
    embedding,
    optimizer,
    sample_fn: SampleFn,
    graph,
    degree,
    users: torch.Tensor,
    item_nodes: torch.Tensor,
    steps_per_epoch: int,
    settings: Settings,
    generator: torch.Generator,
    log: Callable[[str], None] = print,
) -> list[float]:
    """Train for ``settings.epochs`` epochs of ``steps_per_epoch`` steps each; return the mean loss per epoch.

    ``users`` are the users this process trains on. Every epoch shuffles
    them and cuts them into ``steps_per_epoch`` batches, so that every
    trainer takes the same number of optimizer steps, which the
    distributed sparse optimizer needs because each step exchanges gradients
    between all trainers.
    """
    losses = []
    for epoch in range(settings.epochs):
        order = users[torch.randperm(len(users), generator=generator)]
        total = 0.0
        for batch in torch.tensor_split(order, steps_per_epoch):
            loss = batch_loss(embedding, sample_fn, graph, degree, batch, item_nodes, settings, generator)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        losses.append(total / steps_per_epoch)
        log(f"epoch {epoch + 1}: loss {losses[-1]:.4f}")
    return losses


def steps_per_epoch(n_users: int, batch_users: int) -> int:
    """Return the optimizer steps per epoch, the same for every trainer.

    ``batch_users`` counts the users of one step over all trainers together,
    so with T trainers each takes about ``batch_users / T`` users per step,
    and a step updates the embeddings from as many users as one step of the
    single-process run.
    """
    return max(1, -(-n_users // batch_users))


def evaluate_table(dataset: RecDataset, table: np.ndarray, settings: Settings) -> dict[str, float]:
    """Return test Recall@K and NDCG@K of a trained embedding table (rows in dataset order, users first).

    The table is loaded into graphrec's LightGCN with the same number of
    layers, which propagates over the whole training graph and is scored by
    graphrec's full-ranking evaluator (training and validation items masked).
    """
    model = LightGCN(dataset, build_graph(dataset), embedding_dim=settings.embedding_dim, n_layers=settings.n_layers)
    with torch.no_grad():
        model.user_emb.weight.copy_(torch.from_numpy(table[: dataset.n_users]))
        model.item_emb.weight.copy_(torch.from_numpy(table[dataset.n_users :]))
    model.prepare_scoring()
    result = evaluate_model(model, dataset, TEST, (K,), METRICS, 1024, per_scenario=False)
    means = result.means()[OVERALL]
    return {f"{metric}@{K}": float(means[f"{metric}@{K}"]) for metric in METRICS}
