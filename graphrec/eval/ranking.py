"""Full-ranking evaluation: score every item for each user, in user batches.

Items a user must not be credited for (training items, plus validation items
at test time) are masked with -inf. The top K of the remaining items come from
``torch.topk``, and their hits are looked up in the held-out truth rows. Only
one batch of scores and truth rows is dense at any time, and a memory budget
(:class:`graphrec.resources.MemoryBudget`) caps the number of users per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.eval.coverage import item_coverage_at_k
from graphrec.eval.metrics import DEFAULT_KS, DEFAULT_METRICS, compute_topk_metrics, validate_ks, validate_metric_names
from graphrec.resources import DEFAULT_MEMORY_BUDGET, MemoryBudget

logger = logging.getLogger(__name__)

# Catalogue-level metric: the share of items that appear in any evaluated user's top k.
COVERAGE = "coverage"

ScoreFn = Callable[[np.ndarray], torch.Tensor]


def rank_topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Return the indices of the k highest scores per row, best first.

    Masked items carry a score of -inf. A row with fewer than k unmasked items
    still gets k indices, and the trailing ones point at masked items.
    ``topk_valid_mask`` marks which indices are valid.

    NOTE: the order among equal scores is whatever ``torch.topk`` returns,
    which torch does not define.
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be a 2-D tensor [n_users, n_items], got shape {tuple(scores.shape)}")
    if k < 1 or k > scores.shape[1]:
        raise ValueError(f"k must be between 1 and the number of items {scores.shape[1]}, got k={k}")

    return torch.topk(scores, k, dim=1, largest=True, sorted=True).indices


def topk_valid_mask(scores: torch.Tensor, topk_indices: torch.Tensor) -> torch.Tensor:
    """Return a bool tensor, False where a top-k index points at a masked (-inf) item."""
    return scores.gather(1, topk_indices) != float("-inf")


def full_ranking_bytes_per_user(n_items: int, k: int) -> int:
    """Return the bytes that full ranking allocates per user of a batch.

    ``k`` is the number of ranks kept, ``min(max(ks), n_items)``.
    """
    # bytes = 4 * n_items   float32 scores returned by score_fn
    #       + 4 * n_items   float32 masked copy of the scores
    #       + 1 * n_items   bool dense truth row
    #       + 8 * k         int64 top-k indices
    #       + 4 * k         float32 top-k values, which torch.topk also returns
    # NOTE: this assumes float32 scores. A score_fn that returns float64 needs
    # 8 more bytes per item than counted. The index tensors of the masked
    # entries and the [batch, k] temporaries of the hit lookup are not counted.
    return 9 * n_items + 12 * k


def _validate_sparse(name: str, matrix: sp.spmatrix) -> sp.csr_matrix:
    if not sp.issparse(matrix):
        raise ValueError(f"{name} must be a scipy.sparse matrix [n_users, n_items], got {type(matrix).__name__}")
    return sp.csr_matrix(matrix)


def _validate_users(users: np.ndarray, n_users_total: int) -> np.ndarray:
    users = np.asarray(users)
    if users.ndim != 1:
        raise ValueError(f"users must be a 1-D array of user ids, got shape {users.shape}")
    if users.size > 0 and not np.issubdtype(users.dtype, np.integer):
        raise ValueError(f"users must be an integer array, got dtype {users.dtype}")

    users = users.astype(np.int64)
    out_of_range = np.flatnonzero((users < 0) | (users >= n_users_total))
    if out_of_range.size > 0:
        bad = int(users[out_of_range[0]])
        raise ValueError(f"user id {bad} is outside the rows of exclude and truth [0, {n_users_total})")
    return users


def _candidate_mask(candidate_items: np.ndarray, n_items: int) -> np.ndarray:
    """Convert a bool mask or an index array over items to a bool mask [n_items]."""
    candidate_items = np.asarray(candidate_items)
    if candidate_items.ndim != 1:
        raise ValueError(f"candidate_items must be 1-D, got shape {candidate_items.shape}")

    if candidate_items.dtype == np.bool_:
        if candidate_items.shape[0] != n_items:
            raise ValueError(
                f"candidate_items as a bool mask must have length n_items = {n_items}, got {candidate_items.shape[0]}"
            )
        return candidate_items.copy()

    if candidate_items.size > 0 and not np.issubdtype(candidate_items.dtype, np.integer):
        raise ValueError(f"candidate_items must be a bool mask or an integer index array, got dtype {candidate_items.dtype}")
    out_of_range = (candidate_items < 0) | (candidate_items >= n_items)
    if out_of_range.any():
        bad = int(candidate_items[out_of_range][0])
        raise ValueError(f"candidate item index {bad} is outside [0, {n_items})")

    mask = np.zeros(n_items, dtype=bool)
    mask[candidate_items.astype(np.int64)] = True
    return mask


def _restrict_truth(truth_rows: sp.csr_matrix, candidates: np.ndarray | None) -> sp.csr_matrix:
    """Drop stored zeros and, when given, the columns outside the candidate mask."""
    truth_rows = truth_rows.copy()
    if candidates is not None:
        truth_rows.data[~candidates[truth_rows.indices]] = 0
    truth_rows.eliminate_zeros()
    return truth_rows


def _validate_scores(scores: torch.Tensor, batch_users: np.ndarray, n_items: int) -> None:
    if not isinstance(scores, torch.Tensor):
        raise ValueError(f"score_fn must return a torch.Tensor, got {type(scores).__name__}")

    expected = (len(batch_users), n_items)
    if tuple(scores.shape) != expected:
        raise ValueError(f"score_fn returned scores of shape {tuple(scores.shape)}, expected [batch, n_items] = {expected}")
    if not scores.is_floating_point():
        raise ValueError(f"score_fn must return floating-point scores, got dtype {scores.dtype}")

    nan_rows = torch.isnan(scores).any(dim=1).nonzero().flatten()
    if nan_rows.numel() > 0:
        user = int(batch_users[int(nan_rows[0])])
        raise ValueError(f"score_fn returned NaN scores for user {user} ({nan_rows.numel()} users in this batch)")


def _nonzero_indices(rows: sp.csr_matrix, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    coo = rows.tocoo()
    stored = coo.data != 0
    row_index = torch.from_numpy(coo.row[stored].astype(np.int64)).to(device)
    col_index = torch.from_numpy(coo.col[stored].astype(np.int64)).to(device)
    return row_index, col_index


def _sparse_rows_to_dense_bool(rows: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    dense = torch.zeros(rows.shape, dtype=torch.bool, device=device)
    dense[_nonzero_indices(rows, device)] = True
    return dense


def _batch_hits(
    scores: torch.Tensor,
    exclude_rows: sp.csr_matrix,
    truth_rows: sp.csr_matrix,
    candidates: torch.Tensor | None,
    k_max: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Mask one batch of scores and rank it.

    Returns the hits as a bool array ``[batch, k_max]`` and the ranked item
    ids ``[batch, k_max]``, with -1 at ranks that no unmasked item fills.
    """
    masked = scores.detach().clone()

    masked[_nonzero_indices(exclude_rows, masked.device)] = float("-inf")
    if candidates is not None:
        masked.masked_fill_(~candidates, float("-inf"))

    # With fewer items than k_max, the missing ranks are empty and never hit.
    k = min(k_max, masked.shape[1])
    topk_indices = rank_topk(masked, k)
    truth_dense = _sparse_rows_to_dense_bool(truth_rows, masked.device)
    hits = truth_dense.gather(1, topk_indices) & topk_valid_mask(masked, topk_indices)

    hits_np = np.zeros((masked.shape[0], k_max), dtype=bool)
    hits_np[:, :k] = hits.cpu().numpy()
    topk_np = np.full((masked.shape[0], k_max), -1, dtype=np.int64)
    valid = topk_valid_mask(masked, topk_indices)
    topk_np[:, :k] = torch.where(valid, topk_indices, torch.full_like(topk_indices, -1)).cpu().numpy()
    return hits_np, topk_np


def _batches(n: int, batch_size: int, progress: bool) -> Iterable[int]:
    starts: Iterable[int] = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=(n + batch_size - 1) // batch_size, desc="full ranking", unit="batch")
    return starts


def _fit_batch_size(requested: int, n_items: int, k_max: int, memory_budget: MemoryBudget | None) -> int:
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget
    if not isinstance(budget, MemoryBudget):
        raise TypeError(
            f"memory_budget must be a MemoryBudget, for example MemoryBudget.from_mb(2048), got {memory_budget!r}"
        )
    if n_items == 0:
        # No item columns means no dense block, so any batch size fits.
        return requested

    bytes_per_user = full_ranking_bytes_per_user(n_items, min(k_max, n_items))
    batch_size = budget.batch_size_for(
        bytes_per_user, requested, what=f"full ranking of one user over {n_items} items"
    )
    if batch_size < requested:
        logger.info(
            "full ranking: batch size reduced from %d to %d users to fit the memory budget of %.1f MB "
            "(%d bytes per user)",
            requested,
            batch_size,
            budget.megabytes,
            bytes_per_user,
        )
    return batch_size


def evaluate_full_ranking(
    score_fn: ScoreFn,
    users: np.ndarray,
    exclude: sp.csr_matrix,
    truth: sp.csr_matrix,
    ks: Sequence[int] = DEFAULT_KS,
    metrics: Sequence[str] = DEFAULT_METRICS,
    batch_size: int = 1024,
    candidate_items: np.ndarray | None = None,
    progress: bool = False,
    memory_budget: MemoryBudget | None = None,
) -> dict[str, np.ndarray]:
    """Rank all items for each user in ``users`` and compute per-user top-K metrics.

    ``score_fn(user_batch)`` returns float scores ``[len(user_batch), n_items]``.
    ``exclude`` and ``truth`` are ``[n_users_total, n_items]``: nonzero entries
    of ``exclude`` are masked out of the ranking, and nonzero entries of
    ``truth`` are the held-out positives. ``candidate_items`` (a bool mask or
    an index array over items) limits both the ranking and the positives to
    those items. Users without positives (after that limit) are skipped.

    ``memory_budget`` (default :data:`graphrec.resources.DEFAULT_MEMORY_BUDGET`)
    lowers ``batch_size`` until one batch fits, as counted by
    :func:`full_ranking_bytes_per_user`. The results do not depend on the batch
    size. Raises :class:`graphrec.errors.ResourceError` when even one user's
    row does not fit.

    Returns ``"users"`` (int64 ids of the evaluated users, in input order) and
    one float64 array per ``"{metric}@{k}"``, aligned with ``"users"``.
    """
    ks = validate_ks(ks)
    want_coverage = COVERAGE in metrics
    metrics = validate_metric_names([m for m in metrics if m != COVERAGE])
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")

    exclude = _validate_sparse("exclude", exclude)
    truth = _validate_sparse("truth", truth)
    if exclude.shape != truth.shape:
        raise ValueError(f"exclude and truth must have the same shape, got {exclude.shape} and {truth.shape}")
    n_users_total, n_items = truth.shape
    users = _validate_users(users, n_users_total)

    candidates = None if candidate_items is None else _candidate_mask(candidate_items, n_items)
    k_max = max(ks)
    batch_size = _fit_batch_size(int(batch_size), n_items, k_max, memory_budget)

    # Count positives of the requested users only and skip those without any.
    truth_users = _restrict_truth(truth[users], candidates)
    n_pos_all = np.diff(truth_users.indptr)
    keep = n_pos_all > 0
    users = users[keep]
    truth_users = truth_users[keep]
    n_pos = n_pos_all[keep].astype(np.int64)
    if not keep.all():
        # Debug level, because training evaluates every epoch and per scenario.
        logger.debug("full ranking: skipping %d of %d users without held-out positives", int((~keep).sum()), keep.size)

    batch_hits: list[np.ndarray] = [np.zeros((0, k_max), dtype=bool)]
    batch_topk: list[np.ndarray] = [np.zeros((0, k_max), dtype=np.int64)]
    candidates_tensor: torch.Tensor | None = None
    with torch.no_grad():
        for start in _batches(len(users), batch_size, progress):
            batch_users = users[start : start + batch_size]
            scores = score_fn(batch_users)
            _validate_scores(scores, batch_users, n_items)

            if candidates is not None and (candidates_tensor is None or candidates_tensor.device != scores.device):
                candidates_tensor = torch.from_numpy(candidates).to(scores.device)

            hits, topk_items = _batch_hits(
                scores,
                exclude[batch_users],
                truth_users[start : start + batch_size],
                candidates_tensor,
                k_max,
            )
            batch_hits.append(hits)
            if want_coverage:
                batch_topk.append(topk_items)

    results: dict[str, np.ndarray] = {"users": users}
    results.update(compute_topk_metrics(np.concatenate(batch_hits), n_pos, ks, metrics))
    if want_coverage:
        # Coverage describes the whole catalogue, not a user, so it is stored
        # as a one-element array; its mean is the value itself.
        topk_all = np.concatenate(batch_topk)
        for k in ks:
            results[f"{COVERAGE}@{k}"] = np.array([item_coverage_at_k(topk_all, n_items, k)])
    return results
