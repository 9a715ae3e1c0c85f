"""GC-MC: graph convolutional matrix completion for explicit ratings.

van den Berg, Kipf and Welling, "Graph Convolutional Matrix Completion",
arXiv:1706.02263, 2017, without side features, so every node's input is its
one-hot index.

Encoder. Every rating level ``r`` has its own message weights ``W_r``. A user
``i`` gathers ``mu_{j->i,r} = W_r x_j / c_ij`` from each item ``j`` it rated
``r`` (and an item gathers from its users in the same way, with separate
weights), and the levels are accumulated::

    h_i = sigma(accum(sum_{j in N_i,1} mu_{j->i,1}, ..., sum_{j in N_i,R} mu_{j->i,R}))
    u_i = sigma_dense(W h_i + b)

``accum`` is ``stack`` (concatenation, ``hidden_dim / R`` units per level)
or ``sum``. With left normalisation ``c_ij = |N_i|``, the receiving node's
number of training ratings over all levels, and with symmetric
normalisation ``c_ij = sqrt(|N_i| |N_j|)``. Ordinal weight sharing sets
``W_r = T_1 + ... + T_r``. The dense layer has a bias ``b``, which the paper's
``u_i = sigma(W h_i)`` lacks, so a node without training ratings still gets a
learned representation instead of zero. The graph contains TRAINING ratings
only, so validation and test ratings never send messages.

Decoder. A bilinear form per level whose matrices share ``num_basis`` basis
matrices, ``Q_r = sum_s a_rs P_s``, gives ``p(r | u_i, v_j) =
softmax_r(u_i^T Q_r v_j)``. The predicted rating is the expected value
``sum_r r p(r)``, and training minimises the cross-entropy of the observed
levels, full-batch.
"""

from __future__ import annotations

import dgl
import numpy as np
import torch
from torch import nn

from graphrec.data.dataset import RecDataset
from graphrec.errors import ConfigError
from graphrec.models.base import Recommender
from graphrec.models.pointwise import rating_offset
from graphrec.models.registry import register_model
from graphrec.nn.sparse import SparseOperator

ACCUMULATIONS = ("stack", "sum")
NORMALISATIONS = ("left", "symmetric")
# NOTE: measured once at the size of ml-100k u1 (943 users, 1682 items, 72k
# random pairs, a density of 4.5%, output_dim 75) on one shared CPU thread
# with torch 2.2.1. Forward and backward took 0.09 s in the dense form and
# 0.30 s with gathered rows. The 1% cut-off is an estimate of where the two
# cross, not a measurement.
DENSE_DECODE_MIN_DENSITY = 0.01
DENSE_DECODE_MAX_PAIRS = 1 << 24

ACTIVATIONS = {"relu": nn.ReLU, "leaky-relu": lambda: nn.LeakyReLU(0.1), "identity": nn.Identity}


def expected_rating(logits: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Return ``sum_r levels[r] * softmax(logits)[..., r]``, the expected rating, over the last axis."""
    return torch.softmax(logits, dim=-1) @ levels


def _choice(value: str, valid, name: str) -> str:
    if value not in valid:
        raise ConfigError(f"invalid gc-mc {name} {value!r}; valid values: {', '.join(valid)}")
    return value


def _level_operators(
    receivers: torch.Tensor,
    senders: torch.Tensor,
    levels: torch.Tensor,
    norm: torch.Tensor,
    n_levels: int,
    shape: tuple[int, int],
) -> nn.ModuleList:
    """Build one normalised ``[receivers, senders]`` adjacency operator per rating level."""
    operators = nn.ModuleList()
    for level in range(n_levels):
        keep = levels == level
        operators.append(SparseOperator(receivers[keep], senders[keep], norm[keep], shape))
    return operators


@register_model("gc-mc")
class GCMC(Recommender):
    """GC-MC on the training rating graph, trained full-batch on cross-entropy over rating levels.

    The rating levels are the distinct training ratings, sorted (1..5 on
    MovieLens). Under the rating protocol, :meth:`pair_logits` returns the
    expected rating minus the mean training rating, because the rating
    evaluator adds that mean back. Under the CTR protocol the same value is
    the logit, which orders pairs by expected rating but is not a calibrated
    click probability. :meth:`score` returns the expected rating of every
    item, so the model can also rank.

    Each call of :meth:`train_epoch` is one full-batch Adam step over every
    training rating, as in the paper, so ``train.epochs`` counts gradient
    steps and ``train.batch_size`` is not used. :class:`CTRTrainer
    <graphrec.train.ctr_trainer.CTRTrainer>` calls it as
    :meth:`pointwise_epoch`, and the BPR Trainer through ``custom_epoch``, so
    every protocol trains the same cross-entropy.

    Args:
        hidden_dim: size of ``h_i`` after accumulation (500 in the paper for ml-100k).
        output_dim: size of ``u_i`` and ``v_j``, the dense layer's output (75).
        accumulation: ``stack`` or ``sum`` of the per-level messages.
        num_basis: number of basis matrices ``P_s`` of the decoder (2).
        dropout: node dropout on the messages (all messages of a sender are
            dropped together) and ordinary dropout on ``h_i`` (0.7).
        normalisation: ``left`` (``c_ij = |N_i|``) or ``symmetric``.
        ordinal_sharing: use ``W_r = T_1 + ... + T_r`` instead of free ``W_r``.
        activation: ``sigma`` of the graph convolution: ``relu`` or
            ``leaky-relu`` (slope 0.1).
        dense_activation: ``sigma_dense`` of the dense layer: ``identity`` or ``relu``.
        grad_clip: maximum L2 norm of the whole gradient per step; 0 turns
            clipping off.
    """

    custom_epoch = True

    def __init__(
        self,
        dataset: RecDataset,
        graph: dgl.DGLGraph,
        *,
        hidden_dim: int = 500,
        output_dim: int = 75,
        accumulation: str = "stack",
        num_basis: int = 2,
        dropout: float = 0.7,
        normalisation: str = "left",
        ordinal_sharing: bool = False,
        activation: str = "relu",
        dense_activation: str = "identity",
        grad_clip: float = 1.0,
    ):
        super().__init__(dataset, graph)
        self.accumulation = _choice(accumulation, ACCUMULATIONS, "accumulation")
        self.normalisation = _choice(normalisation, NORMALISATIONS, "normalisation")
        self.ordinal_sharing = ordinal_sharing
        self.grad_clip = grad_clip
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"invalid gc-mc dropout {dropout}; use a value in [0, 1)")
        for name, size in (("hidden_dim", hidden_dim), ("output_dim", output_dim), ("num_basis", num_basis)):
            if size < 1:
                raise ConfigError(f"invalid gc-mc {name} {size}; use a positive integer")

        self._build_graph(graph)
        n_levels = len(self.levels)
        if accumulation == "stack" and hidden_dim % n_levels:
            raise ConfigError(
                f"gc-mc hidden_dim {hidden_dim} is not divisible by the {n_levels} rating levels, which "
                "accumulation 'stack' needs; choose a multiple of the number of levels or accumulation 'sum'"
            )
        level_dim = hidden_dim // n_levels if accumulation == "stack" else hidden_dim

        # Weights of the messages sent by items (to users) and by users (to items),
        # one [n_senders, level_dim] matrix per rating level.
        self.item_message_weight = nn.Parameter(torch.empty(n_levels, self.n_items, level_dim))
        self.user_message_weight = nn.Parameter(torch.empty(n_levels, self.n_users, level_dim))
        self.activation = ACTIVATIONS[_choice(activation, ("relu", "leaky-relu"), "activation")]()
        self.dense_activation = ACTIVATIONS[_choice(dense_activation, ("identity", "relu"), "dense_activation")]()
        self.dropout = nn.Dropout(dropout)
        self.user_dense = nn.Linear(hidden_dim, output_dim)
        self.item_dense = nn.Linear(hidden_dim, output_dim)
        self.basis = nn.Parameter(torch.empty(num_basis, output_dim, output_dim))
        self.basis_coefficients = nn.Parameter(torch.empty(n_levels, num_basis))
        self.mean_rating = rating_offset(dataset)
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.reset_parameters()

    def _build_graph(self, graph: dgl.DGLGraph) -> None:
        """Store the training ratings as edges and build the normalised per-level adjacencies."""
        users, items = graph.edges(etype="interacts")
        ratings = graph.edges["interacts"].data["weight"]
        if users.numel() == 0:
            raise ValueError("gc-mc needs training ratings, but the graph has no interacts edges")
        levels, edge_levels = torch.unique(ratings, sorted=True, return_inverse=True)
        self.register_buffer("levels", levels.float(), persistent=False)
        self.register_buffer("edge_users", users, persistent=False)
        self.register_buffer("edge_items", items, persistent=False)
        self.register_buffer("edge_levels", edge_levels, persistent=False)

        user_degree = torch.bincount(users, minlength=self.n_users).float()
        item_degree = torch.bincount(items, minlength=self.n_items).float()
        if self.normalisation == "left":
            to_user_norm = 1.0 / user_degree[users]
            to_item_norm = 1.0 / item_degree[items]
        else:
            to_user_norm = to_item_norm = 1.0 / torch.sqrt(user_degree[users] * item_degree[items])
        n_levels = len(levels)
        self.to_user = _level_operators(users, items, edge_levels, to_user_norm, n_levels, (self.n_users, self.n_items))
        self.to_item = _level_operators(items, users, edge_levels, to_item_norm, n_levels, (self.n_items, self.n_users))

    def reset_parameters(self) -> None:
        for level in range(len(self.levels)):
            nn.init.xavier_uniform_(self.item_message_weight.data[level])
            nn.init.xavier_uniform_(self.user_message_weight.data[level])
        for dense in (self.user_dense, self.item_dense):
            nn.init.xavier_uniform_(dense.weight)
            nn.init.zeros_(dense.bias)
        for index in range(self.basis.shape[0]):
            nn.init.xavier_uniform_(self.basis.data[index])
        nn.init.xavier_uniform_(self.basis_coefficients)

    def aggregate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``h`` of every user ``[U, hidden_dim]`` and item ``[I, hidden_dim]``.

        In training mode each sender's messages are dropped together with
        probability ``dropout``, and the kept ones are scaled by ``1 / (1 - dropout)``.
        """
        item_weight, user_weight = self.item_message_weight, self.user_message_weight
        if self.ordinal_sharing:
            item_weight, user_weight = item_weight.cumsum(dim=0), user_weight.cumsum(dim=0)
        item_keep = self.dropout(item_weight.new_ones(self.n_items, 1))
        user_keep = self.dropout(user_weight.new_ones(self.n_users, 1))

        to_user = [self.to_user[level](item_weight[level] * item_keep) for level in range(len(self.levels))]
        to_item = [self.to_item[level](user_weight[level] * user_keep) for level in range(len(self.levels))]
        if self.accumulation == "stack":
            user_hidden, item_hidden = torch.cat(to_user, dim=1), torch.cat(to_item, dim=1)
        else:
            user_hidden, item_hidden = torch.stack(to_user).sum(dim=0), torch.stack(to_item).sum(dim=0)
        return self.activation(user_hidden), self.activation(item_hidden)

    def encode(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``u_i`` of every user ``[U, output_dim]`` and ``v_j`` of every item ``[I, output_dim]``."""
        user_hidden, item_hidden = self.aggregate()
        user_out = self.dense_activation(self.user_dense(self.dropout(user_hidden)))
        item_out = self.dense_activation(self.item_dense(self.dropout(item_hidden)))
        return user_out, item_out

    def decode(
        self, user_out: torch.Tensor, item_out: torch.Tensor, users: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """Return the level logits ``u_i^T Q_r v_j`` ``[B, R]`` of the pairs ``(users[b], items[b])``.

        ``user_out`` and ``item_out`` contain every node's representation. When
        the pairs cover at least ``DENSE_DECODE_MIN_DENSITY`` of all
        user-item pairs, the bilinear forms of all pairs are computed as
        dense matrix products and the requested ones are picked out, which is
        faster than gathering ``B`` rows. Otherwise the pairs are gathered.
        """
        projected = torch.matmul(user_out, self.basis)
        n_pairs = user_out.shape[0] * item_out.shape[0]
        if users.numel() >= DENSE_DECODE_MIN_DENSITY * n_pairs and n_pairs <= DENSE_DECODE_MAX_PAIRS:
            all_pairs = torch.matmul(projected, item_out.T)
            per_basis = all_pairs.flatten(start_dim=1)[:, users * item_out.shape[0] + items]
        else:
            per_basis = (projected[:, users] * item_out[items]).sum(dim=-1)
        return per_basis.T @ self.basis_coefficients.T

    def pair_logits(self, users: torch.Tensor, items: torch.Tensor, scenarios: torch.Tensor) -> torch.Tensor:
        """Return the expected rating minus the mean training rating ``[B]`` for each pair."""
        user_out, item_out = self.encode()
        logits = self.decode(user_out, item_out, users, items)
        return expected_rating(logits, self.levels) - self.mean_rating

    def train_epoch(
        self, dataset: RecDataset, optimizer: torch.optim.Optimizer, rng: np.random.Generator, batch_size: int
    ) -> float:
        """Take one full-batch step on the mean cross-entropy of every training rating's level."""
        self.train()
        self._cache = None
        user_out, item_out = self.encode()
        logits = self.decode(user_out, item_out, self.edge_users, self.edge_items)
        loss = nn.functional.cross_entropy(logits, self.edge_levels)

        optimizer.zero_grad()
        loss.backward()
        if self.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.parameters(), self.grad_clip)
        optimizer.step()
        return float(loss.detach())

    def pointwise_epoch(
        self, dataset: RecDataset, optimizer: torch.optim.Optimizer, rng: np.random.Generator, batch_size: int
    ) -> float:
        """Run :meth:`train_epoch`, the hook through which CTRTrainer replaces its squared-error batches."""
        return self.train_epoch(dataset, optimizer, rng, batch_size)

    @torch.no_grad()
    def prepare_scoring(self) -> None:
        self.eval()
        self._cache = self.encode()

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        """Return the expected rating of every item ``[len(users), n_items]``."""
        if self._cache is None:
            self.prepare_scoring()
        user_out, item_out = self._cache
        per_basis = torch.matmul(torch.matmul(user_out[users], self.basis), item_out.T)
        return expected_rating(torch.movedim(per_basis, 0, -1) @ self.basis_coefficients.T, self.levels)
