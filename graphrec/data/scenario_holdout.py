"""Cross-scenario cold-start split: some users lose one whole scenario to the test set.

A random per-user split leaves almost every user with training interactions
in every scenario they are tested in, so the question "does a user's taste in
one scenario inform another" goes unmeasured. This split starts from
:func:`graphrec.data.split.random_split_by_user` and then, for a seeded share
of the users active in at least two scenarios, moves all of the user's
interactions in one of their scenarios (picked at random) to the test set.

Those users have test items in that scenario and no training or validation
interaction there, so the evaluator reports them under
``"<scenario>/cold-start"``. Validation keeps only warm interactions, so
early stopping does not see the held-out scenarios.
"""

from __future__ import annotations

import logging

import numpy as np

from graphrec.data.split import TEST, random_split_by_user
from graphrec.errors import ConfigError

logger = logging.getLogger(__name__)


def scenario_holdout_split(
    users: np.ndarray,
    scenarios: np.ndarray,
    ratios: tuple[float, float, float],
    share: float,
    seed: int,
) -> np.ndarray:
    """Return TRAIN/VALID/TEST labels with one scenario held out for a share of users.

    Args:
        users: user index of every interaction.
        scenarios: scenario id of every interaction.
        ratios: train, valid and test ratios of the underlying random split.
        share: fraction of the eligible users whose interactions in one
            scenario all go to test, rounded to the nearest count. Eligible
            users have interactions in at least two scenarios.
        seed: seeds the random split and the choice of users and scenarios.
    """
    if not 0.0 < share <= 1.0:
        raise ConfigError(f"protocol.holdout_share must be above 0 and at most 1, got {share}")
    labels = random_split_by_user(users, ratios, seed)

    # Distinct (user, scenario) pairs, sorted by user and then scenario.
    pairs = np.unique(np.stack([users, scenarios], axis=1), axis=0)
    user_of_pair = pairs[:, 0]
    n_scenarios_of_user = np.bincount(user_of_pair)
    eligible = np.flatnonzero(n_scenarios_of_user >= 2)
    if len(eligible) == 0:
        raise ConfigError(
            "split_method scenario-holdout needs users active in at least two scenarios, and this dataset has none. "
            "User-level scenario specs (such as age-group) put each user in one scenario; "
            "use an item- or interaction-level spec such as genre-channel."
        )

    # A separate stream, so the random part of the split equals random_split_by_user's.
    rng = np.random.default_rng([seed, 1])
    n_picked = max(1, int(round(share * len(eligible))))
    picked = np.sort(rng.choice(eligible, size=n_picked, replace=False))
    first_pair = np.searchsorted(user_of_pair, picked)
    offsets = rng.integers(0, n_scenarios_of_user[picked])
    held_scenario = pairs[first_pair + offsets, 1]

    lost_scenario = np.full(len(n_scenarios_of_user), -1, dtype=np.int64)
    lost_scenario[picked] = held_scenario
    moved = lost_scenario[users] == scenarios
    labels[moved] = TEST
    logger.info(
        "scenario-holdout split: %d of %d users active in two or more scenarios lose one scenario "
        "(%d interactions) to the test set",
        n_picked, len(eligible), int(moved.sum()),
    )
    return labels
