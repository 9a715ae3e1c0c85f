"""Train/validation/test splits."""

from __future__ import annotations

import numpy as np

TRAIN, VALID, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "valid", "test")


def split_counts(n: int, ratios: tuple[float, float, float]) -> tuple[int, int, int]:
    """Return (train, valid, test) sizes for one user's ``n`` interactions.

    This follows RecBole's ratio split (1.x, ``split_by_ratio``). The valid and
    test parts get ``floor(ratio * n)``. A part whose exact share lies strictly
    between 0 and 1 is raised to one interaction, as long as more than one
    interaction stays in train. Train takes the rest.
    """
    sizes = [int(r * n) for r in ratios]
    sizes[0] = n - sum(sizes[1:])
    for part in (2, 1):
        if sizes[0] <= 1:
            break
        if 0 < ratios[part] * n < 1:
            sizes[part] += 1
            sizes[0] -= 1
    return sizes[0], sizes[1], sizes[2]


def random_split_by_user(
    users: np.ndarray, ratios: tuple[float, float, float], seed: int
) -> np.ndarray:
    """Assign each interaction to TRAIN, VALID or TEST, at random within each user.

    ``users`` contains the user index of every interaction. Each user's
    interactions are shuffled with a generator seeded by ``seed`` and cut by
    :func:`split_counts`. The result depends only on the seed and
    on the order of the rows.
    """
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"split ratios must be three non-negative numbers summing to 1, got {ratios}")

    rng = np.random.default_rng(seed)
    labels = np.empty(len(users), dtype=np.int8)
    order = np.argsort(users, kind="stable")
    boundaries = np.flatnonzero(np.diff(users[order])) + 1

    for rows in np.split(order, boundaries):
        shuffled = rows[rng.permutation(len(rows))]
        n_train, n_valid, _ = split_counts(len(rows), ratios)
        labels[shuffled[:n_train]] = TRAIN
        labels[shuffled[n_train:n_train + n_valid]] = VALID
        labels[shuffled[n_train + n_valid:]] = TEST
    return labels
