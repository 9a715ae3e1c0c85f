"""EASE: the embarrassingly shallow autoencoder of Steck, "Embarrassingly Shallow Autoencoders for Sparse Data" (WWW 2019).

EASE learns an item-item weight matrix B that reconstructs the training
interaction matrix X as X B, with a zero diagonal so that no item predicts
itself:

    min_B ||X - X B||_F^2 + lambda ||B||_F^2   subject to diag(B) = 0

The minimiser has the closed form

    P = (X^T X + lambda I)^-1,    B = I - P diagMat(1 / diag(P))

that is ``B_ij = -P_ij / P_jj`` off the diagonal and ``B_jj = 0``. A user's
scores are ``x_u B``.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import dgl
import numpy as np
import scipy.linalg
import scipy.sparse as sp
import torch

from graphrec.data.dataset import RecDataset
from graphrec.errors import ConfigError, ResourceError
from graphrec.models.base import Recommender
from graphrec.models.registry import register_model
from graphrec.resources import BYTES_PER_MB, dense_matrix_bytes

logger = logging.getLogger(__name__)


def ease_weights(interactions: sp.spmatrix, reg_weight: float) -> np.ndarray:
    """Return EASE's item-item matrix ``B = I - P diagMat(1 / diag(P))`` with ``P = (X^T X + reg_weight I)^-1``.

    Works in float64 and returns float32. The Gram matrix ``X^T X + reg_weight I``
    is symmetric positive definite for ``reg_weight > 0``, so it is inverted
    through its Cholesky factor. RecBole's EASE
    (recbole/model/general_recommender/ease.py) computes the same B with a
    general inverse in float32.
    """
    matrix = sp.csr_matrix(interactions, dtype=np.float64)
    # Fortran order lets LAPACK factor and solve in place instead of copying each matrix first.
    gram = (matrix.T @ matrix).toarray(order="F")
    gram[np.diag_indices_from(gram)] += reg_weight

    factor = scipy.linalg.cho_factor(gram, lower=True, overwrite_a=True, check_finite=False)
    identity = np.eye(gram.shape[0], order="F")
    precision = scipy.linalg.cho_solve(factor, identity, overwrite_b=True, check_finite=False)
    del factor, gram, identity

    # In place, so that no third dense float64 matrix is allocated: column j is divided by -P_jj.
    diagonal = np.diag(precision).copy()
    precision /= -diagonal[np.newaxis, :]
    precision[np.diag_indices_from(precision)] = 0.0
    return precision.astype(np.float32)


@register_model("ease")
class EASE(Recommender):
    """EASE (Steck, WWW 2019): ``score(u, .) = x_u B`` with ``B = I - P diagMat(1 / diag(P))``.

    ``P = (X^T X + reg_weight I)^-1`` over the binary training interaction
    matrix X. B is a dense ``n_items x n_items`` matrix, so memory grows with
    the square of the catalogue. At its peak, fitting uses two float64
    matrices of that size (16 bytes per item pair, as tracemalloc measured
    for 2,000 items), and the float32 B kept for scoring takes 4 bytes per pair.

    Args:
        reg_weight: the L2 weight lambda on B (RecBole 1.2.1's default, 250.0).
    """

    trainable: ClassVar[bool] = False

    def __init__(self, dataset: RecDataset, graph: dgl.DGLGraph, *, reg_weight: float = 250.0):
        super().__init__(dataset, graph)
        if not np.isfinite(reg_weight) or reg_weight <= 0:
            raise ConfigError(f"ease: reg_weight must be a finite number > 0, got {reg_weight}")
        self.reg_weight = reg_weight
        self.history: sp.csr_matrix | None = None
        self.weights: np.ndarray | None = None

    def fit(self, dataset: RecDataset) -> None:
        self.history = dataset.train_matrix.astype(np.float32).tocsr()
        size_mb = dense_matrix_bytes(self.n_items, self.n_items, np.float64) / BYTES_PER_MB
        logger.info(
            "ease: inverting a dense %d x %d Gram matrix (%.1f MB per float64 copy)", self.n_items, self.n_items, size_mb
        )
        try:
            self.weights = ease_weights(self.history, self.reg_weight)
        except MemoryError as err:
            raise ResourceError(
                f"ease needs two dense {self.n_items} x {self.n_items} float64 matrices ({size_mb:,.1f} MB each), "
                "which do not fit in memory. Use itemknn, or drop rare items first with "
                "preprocess.min_item_interactions."
            ) from err

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        if self.history is None or self.weights is None:
            raise RuntimeError("ease.score was called before fit")
        rows = self.history[users.cpu().numpy()]
        return torch.from_numpy(np.asarray(rows @ self.weights, dtype=np.float32))
