"""Per-user top-K ranking metrics in NumPy, with RecBole's definitions.

Every metric takes the same inputs:

- ``hits``: bool array ``[n_users, K_max]``. ``hits[u, r]`` is True when the
  item at rank ``r + 1`` of user ``u``'s ranking is a held-out positive.
- ``n_pos``: int array ``[n_users]``, the number of held-out positives of each
  user. Every entry must be positive.
- ``k``: the cutoff, ``1 <= k <= K_max``.

and returns a float64 array ``[n_users]``. Averaging over users is left to the
caller, so that results can be split by user group or scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

MetricFn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]

DEFAULT_KS: tuple[int, ...] = (10, 20)
DEFAULT_METRICS: tuple[str, ...] = ("recall", "ndcg", "precision", "hit", "mrr")


def _validate_hits(hits: np.ndarray) -> np.ndarray:
    hits = np.asarray(hits)
    if hits.ndim != 2:
        raise ValueError(f"hits must be a 2-D array [n_users, K_max], got shape {hits.shape}")

    if hits.dtype != np.bool_:
        if not np.isin(hits, (0, 1)).all():
            raise ValueError(f"hits must be a bool array or contain only 0 and 1, got dtype {hits.dtype}")
        hits = hits.astype(bool)

    return hits


def _validate_n_pos(n_pos: np.ndarray, hits: np.ndarray) -> np.ndarray:
    n_pos = np.asarray(n_pos)
    if n_pos.ndim != 1 or n_pos.shape[0] != hits.shape[0]:
        raise ValueError(
            f"n_pos must have shape [n_users] = ({hits.shape[0]},) to match hits {hits.shape}, got {n_pos.shape}"
        )
    if not np.issubdtype(n_pos.dtype, np.integer):
        raise ValueError(f"n_pos must be an integer array, got dtype {n_pos.dtype}")

    non_positive = np.flatnonzero(n_pos <= 0)
    if non_positive.size > 0:
        user = int(non_positive[0])
        raise ValueError(
            f"n_pos must be > 0 for every user, but user index {user} has n_pos={int(n_pos[user])} "
            f"({non_positive.size} such users). Drop users without held-out positives before scoring."
        )

    hit_counts = hits.sum(axis=1)
    too_many = np.flatnonzero(hit_counts > n_pos)
    if too_many.size > 0:
        user = int(too_many[0])
        raise ValueError(
            f"user index {user} has {int(hit_counts[user])} hits but n_pos={int(n_pos[user])}, "
            "but a user cannot have more hits than held-out positives"
        )

    return n_pos.astype(np.int64)


def _validate_k(k: int, hits: np.ndarray) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an int, got {k!r}")
    if k < 1 or k > hits.shape[1]:
        raise ValueError(f"k must be between 1 and hits.shape[1] = {hits.shape[1]}, got k={k}")
    return int(k)


def _validate(hits: np.ndarray, n_pos: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, int]:
    hits = _validate_hits(hits)
    n_pos = _validate_n_pos(n_pos, hits)
    k = _validate_k(k, hits)
    return hits, n_pos, k


def _hit_counts(hits: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].sum(axis=1).astype(np.float64)


def recall_at_k(hits: np.ndarray, n_pos: np.ndarray, k: int) -> np.ndarray:
    """Compute the number of hits in the top k divided by n_pos."""
    hits, n_pos, k = _validate(hits, n_pos, k)
    return _hit_counts(hits, k) / n_pos


def precision_at_k(hits: np.ndarray, n_pos: np.ndarray, k: int) -> np.ndarray:
    """Compute the number of hits in the top k divided by k."""
    hits, n_pos, k = _validate(hits, n_pos, k)
    return _hit_counts(hits, k) / k


def hit_at_k(hits: np.ndarray, n_pos: np.ndarray, k: int) -> np.ndarray:
    """Compute 1.0 for users with at least one hit in the top k, else 0.0."""
    hits, n_pos, k = _validate(hits, n_pos, k)
    return hits[:, :k].any(axis=1).astype(np.float64)


def mrr_at_k(hits: np.ndarray, n_pos: np.ndarray, k: int) -> np.ndarray:
    """Compute 1 / rank of the first hit within the top k, or 0.0 without a hit."""
    hits, n_pos, k = _validate(hits, n_pos, k)
    top = hits[:, :k]

    # argmax returns the first True column, and 0 for rows without any True.
    first_rank = top.argmax(axis=1) + 1
    return np.where(top.any(axis=1), 1.0 / first_rank, 0.0)


def ndcg_at_k(hits: np.ndarray, n_pos: np.ndarray, k: int) -> np.ndarray:
    """Compute DCG / IDCG with gain 1 / log2(rank + 1).

    The ideal ranking puts all positives first, so IDCG sums the gains of the
    first min(n_pos, k) ranks.
    """
    hits, n_pos, k = _validate(hits, n_pos, k)
    gains = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits[:, :k] @ gains

    # ideal_dcg[j] is the IDCG of a user with j + 1 relevant ranks.
    ideal_dcg = np.cumsum(gains)
    idcg = ideal_dcg[np.minimum(n_pos, k) - 1]
    return dcg / idcg


def map_at_k(hits: np.ndarray, n_pos: np.ndarray, k: int) -> np.ndarray:
    """Compute average precision: the sum of precision@r over hit ranks r <= k, over min(n_pos, k)."""
    hits, n_pos, k = _validate(hits, n_pos, k)
    top = hits[:, :k]
    precision_at_rank = np.cumsum(top, axis=1) / np.arange(1, k + 1)
    summed = (precision_at_rank * top).sum(axis=1)
    return summed / np.minimum(n_pos, k)


def f1_at_k(hits: np.ndarray, n_pos: np.ndarray, k: int) -> np.ndarray:
    """Compute the harmonic mean of precision@k and recall@k, or 0.0 when both are 0."""
    hits, n_pos, k = _validate(hits, n_pos, k)
    precision = _hit_counts(hits, k) / k
    recall = _hit_counts(hits, k) / n_pos
    total = precision + recall

    # Both terms are 0 exactly when there is no hit, so the division is guarded there.
    safe_total = np.where(total > 0, total, 1.0)
    return np.where(total > 0, 2.0 * precision * recall / safe_total, 0.0)


METRICS: dict[str, MetricFn] = {
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "precision": precision_at_k,
    "hit": hit_at_k,
    "mrr": mrr_at_k,
    "map": map_at_k,
    "f1": f1_at_k,
}


def validate_metric_names(metrics: Sequence[str]) -> tuple[str, ...]:
    """Raise ValueError unless ``metrics`` is a non-empty sequence of names in METRICS."""
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError(f"metrics must name at least one metric. Valid names: {sorted(METRICS)}")

    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric name(s) {unknown}. Valid names: {sorted(METRICS)}")
    return metrics


def validate_ks(ks: Sequence[int]) -> tuple[int, ...]:
    """Raise ValueError unless ``ks`` is a non-empty sequence of positive ints."""
    if isinstance(ks, (int, np.integer)):
        ks = (ks,)
    ks = tuple(ks)
    if not ks:
        raise ValueError("ks must contain at least one cutoff")

    for k in ks:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"every cutoff in ks must be a positive int, got {k!r} in {ks}")
    return tuple(int(k) for k in ks)


def compute_topk_metrics(
    hits: np.ndarray,
    n_pos: np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> dict[str, np.ndarray]:
    """Compute every metric at every cutoff, per user.

    Returns a dict keyed ``"{metric}@{k}"`` (for example ``"ndcg@10"``), in the
    order of ``metrics`` and then ``ks``, with one float64 array ``[n_users]``
    per key.
    """
    ks = validate_ks(ks)
    metrics = validate_metric_names(metrics)
    hits = _validate_hits(hits)
    n_pos = _validate_n_pos(n_pos, hits)
    for k in ks:
        _validate_k(k, hits)

    results: dict[str, np.ndarray] = {}
    for name in metrics:
        for k in ks:
            results[f"{name}@{k}"] = METRICS[name](hits, n_pos, k)
    return results
