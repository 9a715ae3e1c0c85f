"""Scenario attention: neighbour weights from scenario-specific query and key projections.

In the spirit of the Heterogeneous Graph Transformer (Hu et al.,
"Heterogeneous Graph Transformer", WWW 2020), where the attention between
two nodes uses key and query projections chosen by the node and edge types.
Here the type of an edge is its direction and its scenario. For the message
from item ``i`` to user ``u`` over an edge of scenario ``t``:

    a_ui     = <Q_t n(e_u), K_t n(e_i)> / sqrt(h)      n(x) = x / ||x||
    alpha_ui = softmax of a_ui over all neighbours i of u
    P_u[t]   = sum_{i in N_t(u)} deg(u) alpha_ui e_i / sqrt(deg(u) deg(i))

and the same with separate ``Q``, ``K`` for messages from users to items.
The factor ``deg(u) alpha_ui`` is 1 under uniform attention, so attention
only moves weight between neighbours, on top of LightGCN's
``1 / sqrt(deg(u) deg(i))``. Every ``K`` starts at zero, so the layer starts
as exactly LightGCN. Queries start with Xavier-normal values, so the keys
get a gradient from the first step.

Departures from HGT:

* one head of size ``h = min(d, 16)`` (``head_dim``): the logits only rank a
  node's neighbours, and the per-edge products cost time in proportion to
  ``h``;
* the values are the neighbour embeddings themselves, with no message
  projection (``relation-conv`` is the layer with per-scenario message
  matrices);
* the inputs of the attention logits are L2-normalised, so the logits do not
  depend on the embedding scale, which the model's L2 penalty keeps small;
* no residual connection or layer norm, because the model's mean over layers
  plays that part.

The scenario-node context is that of
:class:`graphrec.nn.scenario_parts.ScenarioNodes`.

Kernels: the logits are a sampled dense-dense product (one dot product per
edge) and the aggregation is a sparse-dense product whose values are the
attention weights. The backward passes use sparse-dense products on CSR
matrices where plain indexing would need scatter-adds, which took most of the
CPU time in a first version. Even so, a training batch of ``scenario-gnn``
with this layer took about 7 times the CPU time of one with ``scenario-conv``
on ml-100k, with 3 layers and 64 dimensions on a shared 2-core x86_64 VM.
The per-edge products gather ``[E, h]`` and ``[E, d]`` rows, and with
glibc's default malloc settings half of the time was system time, spent
faulting in memory that malloc had returned to the OS after the previous
step. With ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_MMAP_THRESHOLD_`` set to
4000000000 in the environment, that system time went away and the ratio fell
to about 4.
"""

from __future__ import annotations

import math
import warnings

import dgl
import torch
import torch.nn.functional as F
from torch import nn

from graphrec.nn.registry import register_layer
from graphrec.nn.scenario_parts import ScenarioNeighbourSums, ScenarioNodes

TO_USERS, TO_ITEMS = 0, 1
DEFAULT_HEAD_DIM = 16


class EdgeIndex(nn.Module):
    """The positions ``(rows[e], cols[e])`` of a sparse ``[R, C]`` matrix whose values change every step.

    Keeps the CSR layout of the matrix and of its transpose, so that a matrix
    with new edge values is built without sorting.
    """

    def __init__(self, rows: torch.Tensor, cols: torch.Tensor, shape: tuple[int, int]):
        super().__init__()
        self.shape = shape
        by_row = torch.argsort(rows * shape[1] + cols)
        by_col = torch.argsort(cols * shape[0] + rows)
        for name, tensor in (
            ("rows", rows),
            ("cols", cols),
            ("by_row", by_row),
            ("crow", _compressed(rows[by_row], shape[0])),
            ("col_of_row", cols[by_row]),
            ("by_col", by_col),
            ("ccol", _compressed(cols[by_col], shape[1])),
            ("row_of_col", rows[by_col]),
        ):
            self.register_buffer(name, tensor, persistent=False)

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        """Return the CSR matrix ``[R, C]`` with ``values[e]`` at ``(rows[e], cols[e])``."""
        return _csr(self.crow, self.col_of_row, values[self.by_row], self.shape)

    def matrix_t(self, values: torch.Tensor) -> torch.Tensor:
        """Return the transpose ``[C, R]`` as a CSR matrix."""
        return _csr(self.ccol, self.row_of_col, values[self.by_col], (self.shape[1], self.shape[0]))


def _compressed(sorted_ids: torch.Tensor, n: int) -> torch.Tensor:
    return torch.cat([sorted_ids.new_zeros(1), torch.bincount(sorted_ids, minlength=n).cumsum(0)])


def _csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    with warnings.catch_warnings():
        # torch 2.2 flags sparse CSR as beta; the products used here are stable.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


class _EdgeDot(torch.autograd.Function):
    """``out[e] = <left[rows[e]], right[cols[e]]>``, with sparse-dense products in the backward pass."""

    @staticmethod
    def forward(ctx, index: EdgeIndex, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        ctx.index = index
        ctx.save_for_backward(left, right)
        return (left.index_select(0, index.rows) * right.index_select(0, index.cols)).sum(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        left, right = ctx.saved_tensors
        index = ctx.index
        grad_left = torch.sparse.mm(index.matrix(grad), right) if ctx.needs_input_grad[1] else None
        grad_right = torch.sparse.mm(index.matrix_t(grad), left) if ctx.needs_input_grad[2] else None
        return None, grad_left, grad_right


class _EdgeSum(torch.autograd.Function):
    """``out[r] = sum of values[e] * dense[cols[e]]`` over the edges e of row r, a sparse-dense product."""

    @staticmethod
    def forward(ctx, index: EdgeIndex, values: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        ctx.index = index
        ctx.save_for_backward(values, dense)
        return torch.sparse.mm(index.matrix(values), dense)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        values, dense = ctx.saved_tensors
        index = ctx.index
        grad_values = grad_dense = None
        if ctx.needs_input_grad[1]:
            grad_values = (grad.index_select(0, index.rows) * dense.index_select(0, index.cols)).sum(1)
        if ctx.needs_input_grad[2]:
            grad_dense = torch.sparse.mm(index.matrix_t(values), grad)
        return None, grad_values, grad_dense


def edge_dot(index: EdgeIndex, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Return ``[E]`` with entry ``e`` equal to ``<left[rows[e]], right[cols[e]]>``."""
    return _EdgeDot.apply(index, left, right)


def edge_sum(index: EdgeIndex, values: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """Return ``[R, d]``: row ``r`` sums ``values[e] * dense[cols[e]]`` over the edges e of row r."""
    return _EdgeSum.apply(index, values, dense)


def segment_softmax(logits: torch.Tensor, segments: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Softmax of ``logits`` ``[E]`` within each group of entries that share a ``segments`` id."""
    peak = torch.full((n_segments,), float("-inf"), dtype=logits.dtype)
    peak = peak.scatter_reduce(0, segments, logits.detach(), reduce="amax", include_self=True)
    exp = torch.exp(logits - peak[segments])
    total = torch.zeros(n_segments, dtype=logits.dtype).index_add(0, segments, exp)
    return exp / total[segments]


@register_layer("scenario-attention")
class ScenarioAttentionConv(nn.Module):
    """Scenario-typed attention over neighbours (see the module docstring).

    Args:
        graph: heterograph from :func:`graphrec.graph.build.build_graph`.
        embedding_dim: size of the node embeddings ``d``.
        gating: learn the query and key projections. When False, the keys
            stay zero, the attention is uniform and the messages are LightGCN's.
        scenario_nodes: route context through scenario nodes.
        head_dim: size ``h`` of the queries and keys; None gives
            ``min(embedding_dim, 16)``. ``scenario-gnn`` always uses the
            default.
    """

    def __init__(
        self,
        graph: dgl.DGLGraph,
        embedding_dim: int,
        gating: bool = True,
        scenario_nodes: bool = True,
        head_dim: int | None = None,
    ):
        super().__init__()
        self.gating = gating
        self.sums = ScenarioNeighbourSums(graph)
        self.n_users, self.n_items, self.n_scenarios = self.sums.n_users, self.sums.n_items, self.sums.n_scenarios

        users, items = graph.edges(etype="interacts")
        user_deg = graph.out_degrees(etype="interacts").float()
        item_deg = graph.in_degrees(etype="interacts").float()
        scenario = graph.edges["interacts"].data["scenario"]
        self.register_buffer("edge_users", users, persistent=False)
        self.register_buffer("edge_items", items, persistent=False)
        # Row ``v * S + t`` of a ``[N * S, .]`` table is node v in scenario t.
        n_slots = self.n_scenarios
        user_slots, item_slots = users * n_slots + scenario, items * n_slots + scenario
        user_rows, item_rows = self.n_users * n_slots, self.n_items * n_slots
        # A logit pairs the receiver's query with the sender's key, both of the edge's scenario.
        self.logit_edges = nn.ModuleList(
            [
                EdgeIndex(user_slots, item_slots, (user_rows, item_rows)),
                EdgeIndex(item_slots, user_slots, (item_rows, user_rows)),
            ]
        )
        # A message goes from the sender into the receiver's row of the edge's scenario.
        self.message_edges = nn.ModuleList(
            [
                EdgeIndex(user_slots, items, (user_rows, self.n_items)),
                EdgeIndex(item_slots, users, (item_rows, self.n_users)),
            ]
        )
        # deg(dst) / sqrt(deg(u) deg(i)) = sqrt(deg(dst) / deg(src)) for each direction.
        self.register_buffer("to_user_scale", (user_deg[users] / item_deg[items]).sqrt(), persistent=False)
        self.register_buffer("to_item_scale", (item_deg[items] / user_deg[users]).sqrt(), persistent=False)

        # [direction, scenario, head dim, embedding dim]; direction 0 = item to user, 1 = user to item.
        head_dim = head_dim or min(embedding_dim, DEFAULT_HEAD_DIM)
        shape = (2, self.n_scenarios, head_dim, embedding_dim)
        self.query = nn.Parameter(torch.empty(shape), requires_grad=gating)
        self.key = nn.Parameter(torch.zeros(shape), requires_grad=gating)
        self.context = ScenarioNodes(graph, enabled=scenario_nodes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for direction in range(2):
                for scenario in range(self.n_scenarios):
                    nn.init.xavier_normal_(self.query[direction, scenario])
            self.key.zero_()

    def structure_penalty(self) -> torch.Tensor:
        """Return ``sum ||Q_t^T K_t||^2`` plus the context logits' squares, 0 when attention is uniform.

        The penalty is on the product, so it cannot be avoided by growing
        ``Q`` and shrinking ``K``.
        """
        bilinear = torch.einsum("xthd,xthe->xtde", self.query, self.key)
        return bilinear.pow(2).sum() + self.context.penalty()

    def attention(self, direction: int, dst_emb: torch.Tensor, src_emb: torch.Tensor) -> torch.Tensor:
        """Return the attention weight ``alpha`` ``[E]`` of every training edge for one direction."""
        dst, n_dst = (self.edge_users, self.n_users) if direction == TO_USERS else (self.edge_items, self.n_items)
        head_dim = self.query.shape[2]
        # Project every node with every scenario's matrices: row ``v * S + t`` is node v in scenario t.
        queries = torch.einsum("thd,nd->nth", self.query[direction], F.normalize(dst_emb, dim=1)).reshape(-1, head_dim)
        keys = torch.einsum("thd,nd->nth", self.key[direction], F.normalize(src_emb, dim=1)).reshape(-1, head_dim)
        logits = edge_dot(self.logit_edges[direction], queries, keys) / math.sqrt(head_dim)
        return segment_softmax(logits, dst, n_dst)

    def aggregate(self, direction: int, weights: torch.Tensor, src_emb: torch.Tensor) -> torch.Tensor:
        """Return the receivers' per-scenario sums ``[N, S, d]`` of ``weights[e] * src_emb[sender of e]``."""
        n_dst = self.n_users if direction == TO_USERS else self.n_items
        parts = edge_sum(self.message_edges[direction], weights, src_emb)
        return parts.view(n_dst, self.n_scenarios, src_emb.shape[1])

    def forward(
        self, user_emb: torch.Tensor, item_emb: torch.Tensor, scenario_emb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run one step and return what :class:`graphrec.nn.scenario.ScenarioConv` returns."""
        if self.gating:
            to_user = self.attention(TO_USERS, user_emb, item_emb) * self.to_user_scale
            to_item = self.attention(TO_ITEMS, item_emb, user_emb) * self.to_item_scale
            user_parts = self.aggregate(TO_USERS, to_user, item_emb)
            item_parts = self.aggregate(TO_ITEMS, to_item, user_emb)
        else:
            # Uniform attention is LightGCN's weight; the sparse kernels compute it faster.
            user_parts, item_parts = self.sums.to_users(item_emb), self.sums.to_items(user_emb)
        user_context, item_context, scenario_state = self.context(user_emb, item_emb, scenario_emb)
        return user_parts, item_parts, user_context, item_context, scenario_state

    def extra_repr(self) -> str:
        return f"scenarios={self.n_scenarios}, gating={self.gating}, scenario_nodes={self.context.enabled}"
