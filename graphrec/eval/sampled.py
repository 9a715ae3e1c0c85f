"""Sampled-negative ranking: each held-out item ranked against N sampled negatives.

This is the protocol of Neural Collaborative Filtering (He et al., WWW 2017,
section 4.1) and the tables that followed it. Per user, the held-out item and
``N`` items the user never interacted with (100 in that paper) are scored.
HR@K, NDCG@K and MRR come from the held-out item's rank among those ``N + 1``.

Negatives are drawn uniformly, without replacement, from the items the user
has no interaction with in any split (train, valid or test). The draw depends
only on the dataset, the split and the seed, and :class:`NegativeSample`
stores it in a ``.npz`` file, so every model of a run ranks the same
candidates.

Tie rule: a negative whose score equals the positive's counts as ranked above
it, so ``rank = 1 + #{negatives with score >= positive score}``. A model that
gives every item the same score therefore gets rank ``N + 1``, not 1.

The metrics go through ``ogb.linkproppred.Evaluator``, with graphrec's own
metric code as a cross-check (:func:`evaluate_sampled` raises when the two
disagree). In ogb 1.3.6:

- the MRR datasets (``ogbl-citation2``) take ``y_pred_pos [R]`` and
  ``y_pred_neg [R, N]`` and return per-positive ``mrr_list`` and
  ``hits@{1,3,10}_list``. They rank each positive against its own row of
  negatives, which is the per-user HR@K of this protocol. Their rank counts a
  tie as half a negative above the positive (the mean of the optimistic and
  pessimistic ranks). So :func:`break_ties_against_positive` first raises tied
  negatives to the next float64 above the positive. OGB's rank then equals the
  rank of the tie rule above.
- the Hits@K datasets (``ogbl-collab``, ``ogbl-ppa``, ``ogbl-ddi``) take one
  flat array of negatives shared by all positives and count a positive as a
  hit when it scores strictly above the K-th highest of all negatives. That is
  a global threshold, not each user's own candidates, so it is not HR@K of
  this protocol and is not used here.

OGB returns Hits only at 1, 3 and 10 and no NDCG. The rank of each positive is
therefore read back from OGB's ``mrr_list`` (``rank = 1 / mrr``), and HR@K and
NDCG@K at any K follow from it: ``HR@K = [rank <= K]`` and
``NDCG@K = [rank <= K] / log2(rank + 1)``, since the one positive is the
ideal ranking's only relevant item.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.split import SPLIT_NAMES, TEST, VALID
from graphrec.errors import DataError
from graphrec.eval.metrics import compute_topk_metrics, mrr_at_k, validate_ks
from graphrec.io import atomic_write_bytes
from graphrec.resources import DEFAULT_MEMORY_BUDGET, MemoryBudget

logger = logging.getLogger(__name__)

#: File name of the negatives in a run folder.
NEGATIVES_FILE = "sampled-negatives.npz"
#: OGB dataset whose evaluator ranks each positive against its own row of negatives.
OGB_MRR_DATASET = "ogbl-citation2"
#: The cutoffs at which OGB's MRR evaluator also returns a Hits list.
OGB_HITS_KS = (1, 3, 10)
#: Relative tolerance of the OGB-versus-graphrec cross-check. OGB returns
#: 1 / rank in float32, graphrec in float64.
CROSS_CHECK_RTOL = 1e-6

ScoreFn = Callable[[np.ndarray], torch.Tensor]


@dataclass(frozen=True)
class SampledCandidates:
    """The positives of one split and their negatives.

    Row ``r`` ranks item ``items[r]`` of user ``users[r]`` against the items
    ``negatives[r]``. There is one row per distinct held-out (user, item)
    pair, sorted by user and then item. All rows of a user share the same
    negatives.
    """

    users: np.ndarray
    items: np.ndarray
    negatives: np.ndarray

    @property
    def n_negatives(self) -> int:
        return int(self.negatives.shape[1])

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class NegativeSample:
    """Sampled candidates of the validation and test splits, with what they were drawn from."""

    seed: int
    n_negatives: int
    #: SHA-256 of the dataset's users, items and split labels (see :func:`split_digest`).
    digest: str
    splits: dict[str, SampledCandidates]

    def save(self, path: Path) -> None:
        """Write the sample to ``path`` (``.npz``) atomically."""
        arrays = {
            "seed": np.array(self.seed, dtype=np.int64),
            "n_negatives": np.array(self.n_negatives, dtype=np.int64),
            "digest": np.array(self.digest),
            "split_names": np.array(list(self.splits)),
        }
        for name, candidates in self.splits.items():
            arrays[f"{name}_users"] = candidates.users
            arrays[f"{name}_items"] = candidates.items
            arrays[f"{name}_negatives"] = candidates.negatives
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> "NegativeSample":
        """Read a sample written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            names = [str(name) for name in data["split_names"]]
            splits = {
                name: SampledCandidates(data[f"{name}_users"], data[f"{name}_items"], data[f"{name}_negatives"])
                for name in names
            }
            return cls(int(data["seed"]), int(data["n_negatives"]), str(data["digest"]), splits)


def split_digest(dataset: RecDataset) -> str:
    """Return a SHA-256 hex digest of the dataset's users, items and split labels."""
    digest = hashlib.sha256()
    digest.update(np.array([dataset.n_users, dataset.n_items], dtype=np.int64).tobytes())
    for array in (dataset.users, dataset.items, dataset.splits):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()


def interacted_items(dataset: RecDataset) -> sp.csr_matrix:
    """Return a binary users-by-items CSR matrix of the interactions of every split."""
    data = np.ones(len(dataset.users), dtype=np.int8)
    matrix = sp.csr_matrix((data, (dataset.users, dataset.items)), shape=(dataset.n_users, dataset.n_items))
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def draw_negatives(
    interacted: sp.csr_matrix, users: np.ndarray, n_negatives: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw ``n_negatives`` items per user, uniformly and without replacement, outside the user's row of ``interacted``.

    Returns int64 ``[len(users), n_negatives]``. Users are drawn in the given
    order from ``rng``. Raises DataError when a user has fewer than
    ``n_negatives`` items without interactions.
    """
    n_items = interacted.shape[1]
    out = np.empty((len(users), n_negatives), dtype=np.int64)
    for row, user in enumerate(users):
        seen = interacted.indices[interacted.indptr[user] : interacted.indptr[user + 1]]
        available = n_items - len(seen)
        if available < n_negatives:
            raise DataError(
                f"user index {int(user)} has only {available} items without interactions, fewer than "
                f"protocol.n_negatives = {n_negatives}; lower protocol.n_negatives to at most {available}"
            )

        # The first n_negatives unseen items of a uniformly random ordering of all
        # items are a uniform sample of the unseen items. A prefix of length
        # n_negatives + len(seen) always contains that many unseen items.
        ordering = rng.choice(n_items, size=min(n_items, n_negatives + len(seen)), replace=False)
        unseen = ordering[~np.isin(ordering, seen, assume_unique=True)]
        out[row] = unseen[:n_negatives]
    return out


def sample_split(
    dataset: RecDataset, split: int, n_negatives: int, seed: int, interacted: sp.csr_matrix | None = None
) -> SampledCandidates:
    """Draw the negatives of every held-out (user, item) pair of ``split`` (VALID or TEST).

    The generator is seeded with ``[seed, split]``, so the validation and test
    draws are independent and each depends only on the dataset and ``seed``.
    """
    if split not in (VALID, TEST):
        raise ValueError(f"cannot sample negatives for split {split}; use VALID ({VALID}) or TEST ({TEST})")
    if interacted is None:
        interacted = interacted_items(dataset)

    truth = dataset.interaction_matrix(split).tocoo()
    order = np.lexsort((truth.col, truth.row))
    users = truth.row[order].astype(np.int64)
    items = truth.col[order].astype(np.int64)

    distinct_users, user_row = np.unique(users, return_inverse=True)
    rng = np.random.default_rng([seed, split])
    per_user = draw_negatives(interacted, distinct_users, n_negatives, rng)
    return SampledCandidates(users, items, per_user[user_row])


def sample_negatives(dataset: RecDataset, n_negatives: int, seed: int) -> NegativeSample:
    """Draw the validation and test candidates of ``dataset``."""
    interacted = interacted_items(dataset)
    splits = {
        SPLIT_NAMES[split]: sample_split(dataset, split, n_negatives, seed, interacted) for split in (VALID, TEST)
    }
    for name, candidates in splits.items():
        logger.info(
            "sampled %d negatives for each of %d %s positives (%d users), seed %d",
            n_negatives, len(candidates), name, len(np.unique(candidates.users)), seed,
        )
    return NegativeSample(seed, n_negatives, split_digest(dataset), splits)


def load_or_sample_negatives(
    dataset: RecDataset, n_negatives: int, seed: int, path: Path | None = None
) -> NegativeSample:
    """Return the run's negatives: read from ``path`` when it matches, else drawn and written there.

    A file drawn with another seed, number of negatives or dataset is replaced
    with a warning. Without ``path`` the negatives are drawn and not stored.
    Either way they are the same for the same dataset and seed.
    """
    digest = split_digest(dataset)
    if path is not None and path.exists():
        stored = NegativeSample.load(path)
        expected = (seed, n_negatives, digest)
        if (stored.seed, stored.n_negatives, stored.digest) == expected:
            logger.info("read the sampled negatives from %s", path)
            return stored
        logger.warning(
            "%s was drawn with seed %d, %d negatives and dataset digest %s, but this run uses seed %d, "
            "%d negatives and digest %s; drawing new negatives and replacing the file",
            path, stored.seed, stored.n_negatives, stored.digest[:12], seed, n_negatives, digest[:12],
        )

    sample = sample_negatives(dataset, n_negatives, seed)
    if path is not None:
        sample.save(path)
        logger.info("wrote the sampled negatives to %s", path)
    return sample


def score_candidates(
    score_fn: ScoreFn,
    candidates: SampledCandidates,
    n_items: int,
    batch_size: int = 1024,
    memory_budget: MemoryBudget | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Score every row's positive and negatives.

    ``score_fn(users)`` returns ``[len(users), n_items]`` scores, as
    :meth:`graphrec.models.base.Recommender.score` does. Rows are scored in
    batches whose dense score block fits ``memory_budget``. Returns float64
    ``positive [R]`` and ``negative [R, N]`` scores.
    """
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget
    n_rows = len(candidates)
    positive = np.empty(n_rows, dtype=np.float64)
    negative = np.empty((n_rows, candidates.n_negatives), dtype=np.float64)
    if n_rows == 0:
        return positive, negative

    # Up to 8 bytes per item for the score block (float64 scores), and 16 bytes
    # per candidate for the gathered scores and their float64 copy.
    bytes_per_row = 8 * n_items + 16 * (candidates.n_negatives + 1)
    batch_size = budget.batch_size_for(bytes_per_row, batch_size, what=f"scoring one user over {n_items} items")
    with torch.no_grad():
        for start in range(0, n_rows, batch_size):
            stop = min(start + batch_size, n_rows)
            scores = score_fn(candidates.users[start:stop]).detach().cpu()
            if tuple(scores.shape) != (stop - start, n_items):
                raise ValueError(
                    f"score_fn returned scores of shape {tuple(scores.shape)}, expected {(stop - start, n_items)}"
                )

            rows = torch.arange(stop - start).unsqueeze(1)
            items = torch.from_numpy(candidates.items[start:stop]).unsqueeze(1)
            positive[start:stop] = scores[rows, items][:, 0].double().numpy()
            negative[start:stop] = scores[rows, torch.from_numpy(candidates.negatives[start:stop])].double().numpy()
    return positive, negative


def _validate_scores(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    positive = np.asarray(positive, dtype=np.float64)
    negative = np.asarray(negative, dtype=np.float64)
    if positive.ndim != 1 or negative.ndim != 2 or negative.shape[0] != positive.shape[0]:
        raise ValueError(
            f"expected positive scores [R] and negative scores [R, N], got shapes {positive.shape} and {negative.shape}"
        )
    for name, values in (("positive", positive), ("negative", negative)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} scores contain {int((~np.isfinite(values)).sum())} NaN or infinite values")
    return positive, negative


def pessimistic_ranks(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Return ``1 + #{negatives >= positive}`` per row: ties rank the positive below the negatives."""
    positive, negative = _validate_scores(positive, negative)
    return 1 + (negative >= positive[:, None]).sum(axis=1).astype(np.int64)


def break_ties_against_positive(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raise every negative that ties its row's positive to the next float64 above it.

    No strict order between a positive and a negative changes, because no
    float64 lies between a value and its successor. After this, OGB's rank
    (which counts a tie as half a negative above) equals :func:`pessimistic_ranks`.
    """
    positive, negative = _validate_scores(positive, negative)
    above = np.nextafter(positive, np.inf)[:, None]
    return positive, np.where(negative == positive[:, None], above, negative)


def _metrics_from_ranks(ranks: np.ndarray, ks: Sequence[int]) -> dict[str, np.ndarray]:
    values = {}
    for k in ks:
        hit = ranks <= k
        values[f"hit@{k}"] = hit.astype(np.float64)
        values[f"ndcg@{k}"] = np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0)
    return values


def ogb_rank_metrics(positive: np.ndarray, negative: np.ndarray, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """Compute per-row ``hit@K``, ``ndcg@K`` and ``mrr`` through OGB's ``ogbl-citation2`` evaluator.

    Ties are broken against the positive first. ``mrr`` is OGB's ``mrr_list``,
    ``hit@K`` for K in 1, 3 and 10 is OGB's ``hits@K_list``, and the other
    values come from the rank read back from ``mrr_list``.
    """
    from ogb.linkproppred import Evaluator

    ks = validate_ks(ks)
    positive, negative = break_ties_against_positive(positive, negative)

    # ogb 1.3.6's numpy branch of the MRR evaluator calls sum(dim=1), which
    # numpy rejects, so the scores go in as torch tensors.
    result = Evaluator(name=OGB_MRR_DATASET).eval(
        {"y_pred_pos": torch.from_numpy(positive), "y_pred_neg": torch.from_numpy(negative)}
    )
    mrr = result["mrr_list"].double().numpy()
    ranks = np.rint(1.0 / mrr).astype(np.int64)

    values = _metrics_from_ranks(ranks, ks)
    for k in ks:
        if k in OGB_HITS_KS:
            values[f"hit@{k}"] = result[f"hits@{k}_list"].double().numpy()
    values["mrr"] = mrr
    return values


def graphrec_rank_metrics(positive: np.ndarray, negative: np.ndarray, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """Compute the same values as :func:`ogb_rank_metrics` with :mod:`graphrec.eval.metrics`.

    Each row becomes a ranking of ``N + 1`` candidates with one positive at
    its pessimistic rank. MRR is ``mrr@(N + 1)``, which never truncates.
    """
    ks = validate_ks(ks)
    ranks = pessimistic_ranks(positive, negative)
    width = max(negative.shape[1] + 1, *ks)
    hits = np.zeros((len(ranks), width), dtype=bool)
    hits[np.arange(len(ranks)), ranks - 1] = True
    n_pos = np.ones(len(ranks), dtype=np.int64)

    values = compute_topk_metrics(hits, n_pos, ks, ("hit", "ndcg"))
    values["mrr"] = mrr_at_k(hits, n_pos, width)
    return values


def per_user_means(users: np.ndarray, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Average each per-row value over the rows of each user.

    Returns ``"users"`` (sorted distinct users) and one array per metric,
    aligned with it. Under leave-last-out every user has one row.
    """
    distinct, inverse, counts = np.unique(users, return_inverse=True, return_counts=True)
    out = {"users": distinct.astype(np.int64)}
    for name, row_values in values.items():
        out[name] = np.bincount(inverse, weights=row_values, minlength=len(distinct)) / counts
    return out


def _check_agreement(ogb: dict[str, np.ndarray], own: dict[str, np.ndarray]) -> None:
    for name, values in ogb.items():
        if not np.allclose(values, own[name], rtol=CROSS_CHECK_RTOL, atol=0.0):
            worst = int(np.argmax(np.abs(values - own[name])))
            raise RuntimeError(
                f"sampled {name}: OGB's evaluator and graphrec's metric code disagree at row {worst} "
                f"({values[worst]!r} vs {own[name][worst]!r}); this is a bug in graphrec.eval.sampled"
            )


def evaluate_sampled(
    score_fn: ScoreFn,
    candidates: SampledCandidates,
    n_items: int,
    ks: Sequence[int] = (10,),
    batch_size: int = 1024,
    memory_budget: MemoryBudget | None = None,
) -> dict[str, np.ndarray]:
    """Score ``candidates`` and return per-user ``hit@K``, ``ndcg@K`` and ``mrr``, plus ``"users"``.

    Values come from OGB's evaluator. graphrec's metric code computes them a
    second time and a RuntimeError is raised if the two disagree.
    """
    positive, negative = score_candidates(score_fn, candidates, n_items, batch_size, memory_budget)
    ogb = ogb_rank_metrics(positive, negative, ks)
    _check_agreement(ogb, graphrec_rank_metrics(positive, negative, ks))
    return per_user_means(candidates.users, ogb)


__all__ = [
    "NEGATIVES_FILE",
    "NegativeSample",
    "SampledCandidates",
    "break_ties_against_positive",
    "draw_negatives",
    "evaluate_sampled",
    "graphrec_rank_metrics",
    "interacted_items",
    "load_or_sample_negatives",
    "ogb_rank_metrics",
    "pessimistic_ranks",
    "per_user_means",
    "sample_negatives",
    "sample_split",
    "score_candidates",
]
