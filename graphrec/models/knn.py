"""Neighbourhood baselines: item-based and user-based k-nearest-neighbour collaborative filtering.

Both use the shrunk cosine similarity between the binary training vectors of
two items (columns of the interaction matrix X) or two users (rows of X):

    sim(a, b) = <x_a, x_b> / (||x_a|| * ||x_b|| + shrink)

Shrinkage pulls similarities that rest on few co-occurrences towards zero.
Each item or user keeps only its ``k`` most similar neighbours, excluding
itself. Both rules follow RecBole's ItemKNN
(recbole/model/general_recommender/itemknn.py), and these models share the
defaults of RecBole 1.2.1 (k=100, shrink=0.0). RecBole also adds 1e-6 to the
denominator. On binary data that changes a similarity by at most one part in
a million, so it is left out here.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import dgl
import numpy as np
import scipy.sparse as sp
import torch

from graphrec.data.dataset import RecDataset
from graphrec.errors import ConfigError
from graphrec.models.base import Recommender
from graphrec.models.registry import register_model

logger = logging.getLogger(__name__)

# Upper bound on the products (entries before top-k pruning) of one block of rows.
# tracemalloc measured a peak of 27 bytes per budgeted product for a random
# 4,000 x 3,000 input with k=100, so a block needs roughly 220 MB at this value.
MAX_PRODUCTS_PER_BLOCK = 8_000_000


def shrunk_cosine_topk(vectors: sp.csr_matrix, k: int, shrink: float) -> sp.csr_matrix:
    """Return the top-``k`` shrunk cosine neighbours of every row of ``vectors``.

    Row ``a`` of the result stores ``sim(a, b)`` for the ``k`` rows ``b != a``
    with the highest similarity, where ``sim(a, b) = <v_a, v_b> / (||v_a|| ||v_b|| + shrink)``.
    Rows that share no column with ``a`` have similarity zero and are never
    stored, so a row can keep fewer than ``k`` neighbours. Ties at the cut keep
    the lower row index.

    The square similarity matrix is never dense: rows are processed in blocks
    whose sparse products fit MAX_PRODUCTS_PER_BLOCK, and each block is pruned
    to ``k`` entries per row before the next one starts.
    """
    vectors = sp.csr_matrix(vectors, dtype=np.float64)
    n_rows = vectors.shape[0]
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    transposed = vectors.T.tocsr()

    blocks = []
    for start, stop in _row_blocks(vectors):
        products = (vectors[start:stop] @ transposed).tocoo()
        blocks.append(_prune_block(products, start, stop - start, n_rows, norms, k, shrink))
    if not blocks:
        return sp.csr_matrix((n_rows, n_rows), dtype=np.float32)
    return sp.vstack(blocks, format="csr").astype(np.float32)


def _row_blocks(vectors: sp.csr_matrix) -> list[tuple[int, int]]:
    """Split the rows into consecutive blocks whose products with ``vectors.T`` fit MAX_PRODUCTS_PER_BLOCK.

    The products of row ``a`` number at most the sum, over the columns ``a``
    uses, of how many rows use that column. A row above the limit gets a
    block of its own.
    """
    pattern = vectors.copy()
    pattern.data[:] = 1.0
    column_counts = np.asarray(pattern.sum(axis=0)).ravel()
    work = pattern @ column_counts

    # cumulative[r] is the work of rows 0..r-1, so a block start..stop has cumulative[stop] - cumulative[start].
    cumulative = np.concatenate([[0.0], np.cumsum(work)])
    blocks, start = [], 0
    while start < len(work):
        stop = int(np.searchsorted(cumulative, cumulative[start] + MAX_PRODUCTS_PER_BLOCK, side="right")) - 1
        stop = max(stop, start + 1)
        blocks.append((start, stop))
        start = stop
    return blocks


def _prune_block(
    products: sp.coo_matrix, start: int, n_block: int, n_rows: int, norms: np.ndarray, k: int, shrink: float
) -> sp.csr_matrix:
    """Turn the dot products of rows ``start..start+n_block`` into their top-k shrunk cosine neighbours."""
    local, neighbour, dots = products.row, products.col, products.data

    not_self = neighbour != local + start
    local, neighbour, dots = local[not_self], neighbour[not_self], dots[not_self]

    similarity = dots / (norms[local + start] * norms[neighbour] + shrink)
    nonzero = similarity != 0.0
    local, neighbour, similarity = local[nonzero], neighbour[nonzero], similarity[nonzero]

    # Sort by row, then by descending similarity, then by neighbour index, and keep the first k of each row.
    order = np.lexsort((neighbour, -similarity, local))
    local, neighbour, similarity = local[order], neighbour[order], similarity[order]
    row_starts = np.searchsorted(local, np.arange(n_block))
    rank = np.arange(len(local)) - row_starts[local]
    keep = rank < k

    return sp.csr_matrix((similarity[keep], (local[keep], neighbour[keep])), shape=(n_block, n_rows))


def _check_neighbourhood(model: str, k: int, shrink: float) -> None:
    if k < 1:
        raise ConfigError(f"{model}: k must be a positive number of neighbours, got {k}")
    if not np.isfinite(shrink) or shrink < 0:
        raise ConfigError(f"{model}: shrink must be a finite number >= 0, got {shrink}")


def _sparse_rows_to_tensor(rows: sp.spmatrix) -> torch.Tensor:
    return torch.from_numpy(np.asarray(rows.toarray(), dtype=np.float32))


@register_model("itemknn")
class ItemKNN(Recommender):
    """Item-based k-nearest-neighbour collaborative filtering.

    With ``N_k(i)`` the ``k`` items most similar to item ``i`` (shrunk cosine
    over the training interaction matrix, see the module docstring) and
    ``I_u`` the training items of user ``u``, the score is

        score(u, i) = sum_{j in I_u and j in N_k(i)} sim(j, i)

    which is ``X W`` with ``W[j, i] = sim(j, i)`` for ``j in N_k(i)``. This is
    the cosine item-based top-N model of Deshpande and Karypis, "Item-based
    top-N recommendation algorithms" (ACM TOIS 22(1), 2004), without their
    similarity normalisation, and the scoring rule of RecBole's ItemKNN.

    Args:
        k: neighbours kept per item.
        shrink: the shrinkage term added to the product of the norms.
    """

    trainable: ClassVar[bool] = False

    def __init__(self, dataset: RecDataset, graph: dgl.DGLGraph, *, k: int = 100, shrink: float = 0.0):
        super().__init__(dataset, graph)
        _check_neighbourhood("itemknn", k, shrink)
        self.k = k
        self.shrink = shrink
        self.history: sp.csr_matrix | None = None
        self.weights: sp.csr_matrix | None = None

    def fit(self, dataset: RecDataset) -> None:
        self.history = dataset.train_matrix.astype(np.float32).tocsr()

        # Row i of the neighbour matrix lists N_k(i), so its transpose is W.
        neighbours = shrunk_cosine_topk(self.history.T.tocsr(), self.k, self.shrink)
        self.weights = neighbours.T.tocsr()
        logger.info("itemknn: %d item-item weights for %d items (k=%d)", self.weights.nnz, self.n_items, self.k)

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        if self.history is None or self.weights is None:
            raise RuntimeError("itemknn.score was called before fit")
        rows = self.history[users.cpu().numpy()]
        return _sparse_rows_to_tensor(rows @ self.weights)


@register_model("userknn")
class UserKNN(Recommender):
    """User-based k-nearest-neighbour collaborative filtering.

    Let ``N_k(u)`` be the ``k`` users most similar to user ``u`` (shrunk
    cosine over the training interaction matrix, see the module docstring)
    and ``x_vi`` the binary training interaction of user ``v`` with item
    ``i``. The score is the similarity-weighted vote of the neighbours:

        score(u, i) = sum_{v in N_k(u)} sim(u, v) * x_vi

    This is the user-based neighbourhood scheme of Herlocker et al., "An
    algorithmic framework for performing collaborative filtering" (SIGIR
    1999), applied to binary data. Unlike their rating prediction, the vote is
    not divided by the sum of the similarities.

    Args:
        k: neighbours kept per user.
        shrink: the shrinkage term added to the product of the norms.
    """

    trainable: ClassVar[bool] = False

    def __init__(self, dataset: RecDataset, graph: dgl.DGLGraph, *, k: int = 100, shrink: float = 0.0):
        super().__init__(dataset, graph)
        _check_neighbourhood("userknn", k, shrink)
        self.k = k
        self.shrink = shrink
        self.history: sp.csr_matrix | None = None
        self.neighbours: sp.csr_matrix | None = None

    def fit(self, dataset: RecDataset) -> None:
        self.history = dataset.train_matrix.astype(np.float32).tocsr()
        self.neighbours = shrunk_cosine_topk(self.history, self.k, self.shrink)
        logger.info("userknn: %d user-user weights for %d users (k=%d)", self.neighbours.nnz, self.n_users, self.k)

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        if self.history is None or self.neighbours is None:
            raise RuntimeError("userknn.score was called before fit")
        rows = self.neighbours[users.cpu().numpy()]
        return _sparse_rows_to_tensor(rows @ self.history)
