"""Fold-in: a user vector for new interactions, computed without retraining.

For a model that scores ``s(u, i) = <x_u, y_i>``, the service keeps the item
vectors ``Y`` fixed and solves for one user vector in closed form. This is
the user step of implicit alternating least squares (Hu, Koren and Volinsky,
"Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008, eq. 4):

    x_u = (Y^T C^u Y + lambda I)^-1  Y^T C^u p(u)

with preference ``p_ui = 1`` for the user's items ``N(u)`` and 0 for every
other item, and confidence ``c_ui = 1`` on ``N(u)`` and ``alpha0`` elsewhere.
With this choice

    Y^T C^u Y   = alpha0 Y^T Y + (1 - alpha0) Y_N^T Y_N
    Y^T C^u p(u) = Y_N^T 1

so the ``d x d`` Gramian ``Y^T Y`` is computed once, and one fold-in costs
``O(|N(u)| d^2 + d^3)``. The weight ``alpha0`` on unobserved items pushes the
user vector away from directions that all items share. Without it
(``alpha0 = 0``) the vector points towards the mean of the user's items and
favours items with large norms, which are mostly the popular ones.

``lambda`` is set as ``regularization`` times the mean squared norm of the
item vectors, so one value suits embeddings of any scale: BPR-trained
vectors are not on the scale of a least-squares target.
"""

from __future__ import annotations

import numpy as np

from graphrec.errors import ConfigError

#: Default confidence of unobserved items and relative ridge weight. They were
#: chosen on validation Recall@10 of users folded in from their training
#: items, on a LightGCN run of ml-100k (see docs/serving.md).
DEFAULT_UNOBSERVED_WEIGHT = 0.1
DEFAULT_REGULARIZATION = 0.1


class FoldIn:
    """Closed-form user vectors over fixed item vectors (see the module docstring).

    Args:
        item_factors: item vectors ``Y``, ``[n_items, d]``.
        unobserved_weight: confidence ``alpha0`` of items outside the user's
            set, in ``[0, 1]``.
        regularization: ridge weight relative to the mean squared item norm,
            greater than 0.
    """

    def __init__(
        self,
        item_factors: np.ndarray,
        unobserved_weight: float = DEFAULT_UNOBSERVED_WEIGHT,
        regularization: float = DEFAULT_REGULARIZATION,
    ):
        if not 0.0 <= unobserved_weight <= 1.0:
            raise ConfigError(f"unobserved_weight must be in [0, 1], got {unobserved_weight}")
        if not regularization > 0.0:
            raise ConfigError(f"regularization must be positive, got {regularization}")
        self.item_factors = np.asarray(item_factors, dtype=np.float64)
        self.unobserved_weight = unobserved_weight
        gramian = self.item_factors.T @ self.item_factors
        mean_squared_norm = float(np.trace(gramian)) / max(len(self.item_factors), 1)
        # A table of zero vectors still gets a positive definite system.
        self.ridge = regularization * max(mean_squared_norm, 1e-12)
        self.base = unobserved_weight * gramian + self.ridge * np.eye(gramian.shape[0])

    @property
    def dim(self) -> int:
        return self.item_factors.shape[1]

    def user_vector(self, items: np.ndarray) -> np.ndarray:
        """Return the folded-in vector of a user whose items are ``items`` (indices; repeats count once)."""
        items = np.unique(np.asarray(items, dtype=np.int64))
        if len(items) == 0:
            return np.zeros(self.dim, dtype=np.float32)

        observed = self.item_factors[items]
        system = self.base + (1.0 - self.unobserved_weight) * (observed.T @ observed)
        target = observed.sum(axis=0)
        return np.linalg.solve(system, target).astype(np.float32)
