"""Tests for the per-user ratio split (graphrec.data.split)."""

from __future__ import annotations

import numpy as np
import pytest

from graphrec.data.split import TEST, TRAIN, VALID, random_split_by_user, split_counts

RATIOS = (0.8, 0.1, 0.1)

# Pairs of n and the expected (train, valid, test) under RATIOS, worked by hand
# with RecBole's rule. Valid and test get floor(ratio * n) and train the rest.
# Then test, and after it valid, is raised to 1 when its exact share lies
# strictly between 0 and 1. The loop stops as soon as train is down to 1.
HAND_COUNTS = [
    # floor(8.0), floor(1.0), floor(1.0); shares of exactly 1 are not raised.
    (10, (8, 1, 1)),
    # floor(2.0) each for valid and test, 16 left for train.
    (20, (16, 2, 2)),
    # floor(1.1) = 1 each; the share 1.1 is not below 1, so no raise.
    (11, (9, 1, 1)),
    # floor(0.5) = 0 each, train 5. Test share 0.5 -> test 1, train 4. Valid share 0.5 -> valid 1, train 3.
    (5, (3, 1, 1)),
    # floor(0.3) = 0 each, train 3. Test raised (train 2), then valid raised (train 1).
    (3, (1, 1, 1)),
    # floor(0.2) = 0 each, train 2. Test raised (train 1). Train is now 1, so the loop stops before valid.
    (2, (1, 0, 1)),
    # floor(0.1) = 0 each, train 1. The loop stops at once, so the single interaction stays in train.
    (1, (1, 0, 0)),
    (0, (0, 0, 0)),
]


@pytest.mark.parametrize(("n", "expected"), HAND_COUNTS)
def test_split_counts_recbole_rule(n, expected):
    assert split_counts(n, RATIOS) == expected


def test_split_counts_other_ratios():
    # (0.6, 0.2, 0.2), n=4: floor(0.8) = 0 for valid and test, so both are raised to 1 and train keeps 2.
    assert split_counts(4, (0.6, 0.2, 0.2)) == (2, 1, 1)
    # (0.8, 0.2, 0.0), n=3: a zero share is never raised, the valid share 0.6 is.
    assert split_counts(3, (0.8, 0.2, 0.0)) == (2, 1, 0)
    # (0.5, 0.25, 0.25), n=8: floor(2.0) = 2 each and train 4.
    assert split_counts(8, (0.5, 0.25, 0.25)) == (4, 2, 2)


def test_split_counts_sum_to_n():
    for n in range(0, 60):
        counts = split_counts(n, RATIOS)
        assert sum(counts) == n, f"n={n}: {counts}"
        assert min(counts) >= 0, f"n={n}: {counts}"


def interleaved_users(sizes: dict[int, int], seed: int = 0) -> np.ndarray:
    """Return user ids with ``sizes[user]`` rows each, in a shuffled row order."""
    users = np.concatenate([np.full(n, user, dtype=np.int64) for user, n in sizes.items()])
    return np.random.default_rng(seed).permutation(users)


def test_random_split_counts_per_user():
    # One user per hand-worked size, with non-contiguous ids and interleaved rows.
    sizes = {n * 3 + 7: n for n, _ in HAND_COUNTS if n > 0}
    users = interleaved_users(sizes)

    labels = random_split_by_user(users, RATIOS, seed=2020)

    assert labels.shape == users.shape
    assert set(np.unique(labels)) <= {TRAIN, VALID, TEST}
    for n, expected in HAND_COUNTS:
        if n == 0:
            continue
        rows = users == n * 3 + 7
        counts = (
            int((labels[rows] == TRAIN).sum()),
            int((labels[rows] == VALID).sum()),
            int((labels[rows] == TEST).sum()),
        )
        assert counts == expected, f"user with {n} interactions"


def test_random_split_same_seed_same_labels():
    users = interleaved_users({user: 10 + user for user in range(40)})

    first = random_split_by_user(users, RATIOS, seed=11)
    second = random_split_by_user(users, RATIOS, seed=11)

    assert np.array_equal(first, second)


def test_random_split_other_seed_differs():
    users = interleaved_users({user: 10 + user for user in range(40)})

    first = random_split_by_user(users, RATIOS, seed=11)
    second = random_split_by_user(users, RATIOS, seed=12)

    # 40 users with 10 to 49 rows each: two seeds giving the same labels
    # everywhere would mean the seed is ignored.
    assert not np.array_equal(first, second)


def test_random_split_shuffles_within_user():
    # 200 rows of one user: the 20 held-out rows must not always be the last ones.
    users = np.zeros(200, dtype=np.int64)

    labels = random_split_by_user(users, RATIOS, seed=3)

    assert (labels[:180] != TRAIN).any()


@pytest.mark.parametrize(
    "ratios",
    [
        (0.8, 0.1, 0.2),  # sums to 1.1
        (0.9, 0.2, -0.1),  # sums to 1 but has a negative share
        (0.8, 0.2),  # two shares
        (0.7, 0.1, 0.1, 0.1),  # four shares
    ],
)
def test_random_split_rejects_bad_ratios(ratios):
    users = np.array([0, 0, 1, 1], dtype=np.int64)

    with pytest.raises(ValueError, match="split ratios"):
        random_split_by_user(users, ratios, seed=0)
