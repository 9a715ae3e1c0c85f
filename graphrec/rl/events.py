"""Logged test events in time order and the base model's candidate items for each.

A replayed event shows one item from the user's candidates: the base model's
``n_candidates`` highest-scored items among those the user has not seen.
"Seen" means the user's training and validation items, plus the items of the
user's earlier test events in the replay, because the log shows that the user
already consumed them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TEST, VALID
from graphrec.models.base import Recommender


@dataclass
class EventLog:
    """Logged interactions sorted by time (ties keep the dataset's row order)."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    scenarios: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    @classmethod
    def from_arrays(cls, users, items, ratings, scenarios, timestamps) -> "EventLog":
        """Build a log from aligned arrays, sorted by timestamp with a stable sort."""
        timestamps = np.asarray(timestamps, dtype=np.int64)
        order = np.argsort(timestamps, kind="stable")
        return cls(
            users=np.asarray(users, dtype=np.int64)[order],
            items=np.asarray(items, dtype=np.int64)[order],
            ratings=np.asarray(ratings, dtype=np.float64)[order],
            scenarios=np.asarray(scenarios, dtype=np.int64)[order],
            timestamps=timestamps[order],
        )


def logged_test_events(dataset: RecDataset) -> EventLog:
    """Return the test interactions of ``dataset`` in time order."""
    test = dataset.splits == TEST
    return EventLog.from_arrays(
        dataset.users[test], dataset.items[test], dataset.ratings[test], dataset.scenarios[test], dataset.timestamps[test]
    )


@torch.no_grad()
def ranked_pools(
    model: Recommender, dataset: RecDataset, log: EventLog, n_candidates: int, batch_size: int = 1024
) -> dict[int, np.ndarray]:
    """Return, per user of ``log``, the base model's best unseen items, best first.

    Each list has ``n_candidates`` items plus one per test event of the user,
    so that ``n_candidates`` remain after the user's earlier test items are
    removed during the replay. Training and validation items are excluded.
    Ties in score go to the lower item index.
    """
    model.eval()
    model.prepare_scoring()
    seen = (dataset.train_matrix + dataset.interaction_matrix(VALID)).tocsr()
    users, events_per_user = np.unique(log.users, return_counts=True)
    pools = {}
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = model.score(torch.from_numpy(batch)).double().numpy()
        for row, user in enumerate(batch):
            user_scores = scores[row].copy()
            user_scores[seen.indices[seen.indptr[user] : seen.indptr[user + 1]]] = -np.inf
            length = n_candidates + int(events_per_user[start + row])
            order = np.argsort(-user_scores, kind="stable")[:length]
            pools[int(user)] = order[np.isfinite(user_scores[order])]
    return pools


@dataclass
class Event:
    """One logged event with the candidate items the policy may show."""

    index: int
    user: int
    item: int
    rating: float
    scenario: int
    candidates: np.ndarray


def iterate_events(log: EventLog, pools: dict[int, np.ndarray], n_candidates: int) -> Iterator[Event]:
    """Yield the events of ``log`` in order, each with its current candidates.

    The candidates are the first ``n_candidates`` items of the user's pool
    that are not the item of one of the user's earlier events.
    """
    consumed: dict[int, set[int]] = {}
    for index in range(len(log)):
        user, item = int(log.users[index]), int(log.items[index])
        earlier = consumed.setdefault(user, set())
        pool = pools.get(user, np.empty(0, dtype=np.int64))
        if earlier:
            pool = pool[~np.isin(pool, list(earlier))]
        yield Event(index, user, item, float(log.ratings[index]), int(log.scenarios[index]), pool[:n_candidates])
        earlier.add(item)
