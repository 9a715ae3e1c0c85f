"""Tests for the uniform negative sampler (graphrec.train.sampling)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import chisquare

from helpers import tiny_dataset

from graphrec.train.sampling import UniformNegativeSampler

N_ITEMS = 10
# Training items per user. User 1 has none, user 2 half of the items.
POSITIVES = {0: [0, 3, 7], 1: [], 2: [1, 2, 4, 6, 8], 3: [9]}


def train_matrix(positives: dict[int, list[int]], n_items: int = N_ITEMS) -> sp.csr_matrix:
    rows = [u for u, items in positives.items() for _ in items]
    cols = [i for items in positives.values() for i in items]
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(positives), n_items))


@pytest.mark.parametrize("user", sorted(POSITIVES))
def test_sampler_avoids_training_items(user):
    sampler = UniformNegativeSampler(train_matrix(POSITIVES), np.random.default_rng(0))

    draws = sampler.sample(np.full(20_000, user, dtype=np.int64))

    assert draws.shape == (20_000,)
    assert draws.min() >= 0
    assert draws.max() < N_ITEMS
    assert not np.isin(draws, POSITIVES[user]).any()


@pytest.mark.parametrize("user", sorted(POSITIVES))
def test_sampler_covers_negatives_uniformly(user):
    sampler = UniformNegativeSampler(train_matrix(POSITIVES), np.random.default_rng(1))
    negatives = [i for i in range(N_ITEMS) if i not in POSITIVES[user]]

    draws = sampler.sample(np.full(20_000, user, dtype=np.int64))

    counts = np.bincount(draws, minlength=N_ITEMS)[negatives]
    # With 20 000 draws over at most 10 items each expected count is at least
    # 2 000, so a negative drawn fewer than 1 000 times points to a bias.
    assert counts.min() > 1_000
    # The seed is fixed, so this loose threshold either always passes or flags a real bias.
    assert chisquare(counts).pvalue > 1e-4


def test_sampler_mixed_batch():
    sampler = UniformNegativeSampler(train_matrix(POSITIVES), np.random.default_rng(2))
    users = np.random.default_rng(3).integers(0, len(POSITIVES), size=50_000)

    draws = sampler.sample(users)

    for user, items in POSITIVES.items():
        assert not np.isin(draws[users == user], items).any(), f"user {user}"


def test_sampler_tiny_dataset():
    dataset = tiny_dataset()
    train = dataset.train_matrix.toarray() > 0
    sampler = UniformNegativeSampler(dataset.train_matrix, np.random.default_rng(4))
    users = np.repeat(np.arange(dataset.n_users), 2_000)

    draws = sampler.sample(users)

    assert not train[users, draws].any()
    # Every user has 4 or 5 training items out of 8, so 3 or 4 negatives, and each one must show up.
    for user in range(dataset.n_users):
        assert set(draws[users == user].tolist()) == set(np.flatnonzero(~train[user]).tolist()), f"user {user}"


def test_sampler_same_seed_same_draws():
    users = np.arange(4).repeat(100)

    first = UniformNegativeSampler(train_matrix(POSITIVES), np.random.default_rng(9)).sample(users)
    second = UniformNegativeSampler(train_matrix(POSITIVES), np.random.default_rng(9)).sample(users)

    assert np.array_equal(first, second)


def test_sampler_rejects_user_with_every_item():
    positives = {0: [0, 1], 1: list(range(N_ITEMS)), 2: [5]}

    with pytest.raises(ValueError, match="user 1"):
        UniformNegativeSampler(train_matrix(positives), np.random.default_rng(0))


def test_sampler_empty_training_matrix():
    empty = sp.csr_matrix((3, N_ITEMS), dtype=np.float32)
    sampler = UniformNegativeSampler(empty, np.random.default_rng(0))

    draws = sampler.sample(np.array([0, 1, 2], dtype=np.int64))

    assert draws.shape == (3,)
    assert draws.max() < N_ITEMS
