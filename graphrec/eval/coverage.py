"""Catalogue coverage of top-K recommendation lists."""

from __future__ import annotations

import numpy as np


def item_coverage_at_k(topk_items: np.ndarray, n_items: int, k: int) -> float:
    """Return the share of the ``n_items`` catalogue that appears in the top ``k`` of any user.

    ``topk_items`` is an integer array ``[n_users, K]`` of item indices, best
    first, with ``1 <= k <= K``. A negative entry marks an empty rank (a user
    with fewer than K candidates) and is not counted. With no users the
    coverage is 0.0.
    """
    topk_items = np.asarray(topk_items)
    if topk_items.ndim != 2:
        raise ValueError(f"topk_items must be a 2-D array [n_users, K], got shape {topk_items.shape}")
    if topk_items.size > 0 and not np.issubdtype(topk_items.dtype, np.integer):
        raise ValueError(f"topk_items must hold integer item indices, got dtype {topk_items.dtype}")
    if isinstance(n_items, (bool, np.bool_)) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise ValueError(f"n_items must be a positive int, got {n_items!r}")
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 1 <= k <= topk_items.shape[1]:
        raise ValueError(f"k must be an int between 1 and topk_items.shape[1] = {topk_items.shape[1]}, got {k!r}")

    top = topk_items[:, :k]
    too_large = top >= n_items
    if too_large.any():
        raise ValueError(f"item index {int(top[too_large][0])} is outside [0, n_items) = [0, {n_items})")

    recommended = np.unique(top[top >= 0])
    return recommended.size / n_items
