"""Negative sampling for pairwise training."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class UniformNegativeSampler:
    """Draw items uniformly from those a user has no training interaction with.

    Sampling is vectorised rejection: draw for the whole batch, then redraw
    only the entries that hit a training item, until none is left.
    """

    def __init__(self, train: sp.csr_matrix, rng: np.random.Generator, max_rounds: int = 100):
        self.n_items = train.shape[1]
        coo = train.tocoo()
        self._keys = np.unique(coo.row.astype(np.int64) * self.n_items + coo.col)
        full = np.flatnonzero(np.diff(train.indptr) >= self.n_items)
        if len(full):
            raise ValueError(
                f"user {int(full[0])} has a training interaction with every item, so no negative exists"
            )
        self.rng = rng
        self.max_rounds = max_rounds

    def _is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users.astype(np.int64) * self.n_items + items
        if len(self._keys) == 0:
            return np.zeros(len(keys), dtype=bool)
        pos = np.searchsorted(self._keys, keys)
        pos = np.minimum(pos, len(self._keys) - 1)
        return self._keys[pos] == keys

    def sample(self, users: np.ndarray) -> np.ndarray:
        """Return one negative item per entry of ``users``."""
        items = self.rng.integers(0, self.n_items, size=len(users))
        redo = np.flatnonzero(self._is_positive(users, items))
        rounds = 0
        while len(redo):
            rounds += 1
            if rounds > self.max_rounds:
                raise RuntimeError(
                    f"negative sampling did not finish after {self.max_rounds} rounds; "
                    "some users interact with nearly every item"
                )
            items[redo] = self.rng.integers(0, self.n_items, size=len(redo))
            redo = redo[self._is_positive(users[redo], items[redo])]
        return items
