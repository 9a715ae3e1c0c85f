"""Bandit policies: LinUCB worked by hand, Thompson and epsilon-greedy draws, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphrec.errors import ConfigError
from graphrec.rl.policies import (
    EpsilonGreedy,
    Greedy,
    LinearThompson,
    LinUCB,
    load_policy,
    save_policy,
)
from graphrec.train.checkpoint import CheckpointError


def test_linucb_two_steps_by_hand():
    """d = 2, alpha = 0.5, ridge 1, prior mean 0.

    Step 1: A = I, b = 0, theta = 0. Both candidates [1, 0] and [0, 1] score
    0 + 0.5 * 1 = 0.5; the tie goes to row 0. Reward 1:
    A = [[2, 0], [0, 1]], b = [1, 0], theta = [0.5, 0].

    Step 2: A^-1 = diag(0.5, 1). Scores:
    [1, 0]: 0.5 + 0.5 * sqrt(0.5) = 0.853553
    [0, 1]: 0   + 0.5 * sqrt(1)   = 0.5
    [1, 1]: 0.5 + 0.5 * sqrt(1.5) = 1.112372, picked. Reward 0:
    A = [[3, 1], [1, 2]], b = [1, 0], A^-1 = [[2, -1], [-1, 3]] / 5,
    theta = [0.4, -0.2].

    Step 3 scores: [1, 0]: 0.4 + 0.5 * sqrt(2/5) = 0.716228;
    [0, 1]: -0.2 + 0.5 * sqrt(3/5) = 0.187298.
    """
    policy = LinUCB(2, alpha=0.5)

    step1 = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(policy.scores(step1), [0.5, 0.5])
    assert policy.select(step1) == 0
    policy.update(step1[0], 1.0)
    np.testing.assert_allclose(policy.A, [[2.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(policy.b, [1.0, 0.0])
    np.testing.assert_allclose(policy.theta(), [0.5, 0.0])

    step2 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(policy.scores(step2), [0.853553, 0.5, 1.112372], atol=1e-6)
    assert policy.select(step2) == 2
    policy.update(step2[2], 0.0)
    np.testing.assert_allclose(policy.A, [[3.0, 1.0], [1.0, 2.0]])
    np.testing.assert_allclose(policy.b, [1.0, 0.0])
    np.testing.assert_allclose(policy.theta(), [0.4, -0.2])

    np.testing.assert_allclose(policy.scores(step1), [0.716228, 0.187298], atol=1e-6)
    assert policy.select(step1) == 0


def test_linucb_prior_keeps_base_order():
    """With prior_weight 2 along [1, 1], theta starts at [2, 2] and alpha 0 ranks by x1 + x2."""
    policy = LinUCB(2, np.array([1.0, 1.0]), alpha=0.0, prior_weight=2.0)
    contexts = np.array([[0.1, 0.2], [0.5, 0.4], [0.3, 0.3]])

    np.testing.assert_allclose(policy.theta(), [2.0, 2.0])
    np.testing.assert_allclose(policy.scores(contexts), [0.6, 1.8, 1.2])
    assert policy.select(contexts) == 1


def test_greedy_takes_top_candidate():
    policy = Greedy(3)
    assert policy.select(np.array([[0.0, 0.0, 0.0], [9.0, 9.0, 9.0]])) == 0


def test_thompson_repeats_for_seed():
    contexts = np.random.default_rng(0).normal(size=(6, 3))

    def picks(seed: int) -> list[int]:
        policy = LinearThompson(3, seed=seed, v=1.0)
        out = []
        for step in range(30):
            pick = policy.select(contexts)
            policy.update(contexts[pick], float(step % 2))
            out.append(pick)
        return out

    assert picks(5) == picks(5)
    assert picks(5) != picks(6)


def test_thompson_draw_covariance():
    """Draws have mean theta and covariance v^2 A^-1; here A = [[3, 1], [1, 2]], b = [1, 0], v = 0.5.

    theta = [0.4, -0.2] and v^2 A^-1 = 0.25 * [[0.4, -0.2], [-0.2, 0.6]] = [[0.1, -0.05], [-0.05, 0.15]].
    With 40,000 draws the standard error of each entry is below 0.001.
    """
    policy = LinearThompson(2, seed=11, v=0.5)
    policy.update(np.array([1.0, 0.0]), 1.0)
    policy.update(np.array([1.0, 1.0]), 0.0)

    draws = np.array([policy.sample_theta() for _ in range(40_000)])

    np.testing.assert_allclose(draws.mean(axis=0), [0.4, -0.2], atol=0.006)
    np.testing.assert_allclose(np.cov(draws.T), [[0.1, -0.05], [-0.05, 0.15]], atol=0.006)


def test_thompson_without_noise_is_ridge_greedy():
    policy = LinearThompson(2, seed=1, v=0.0)
    policy.update(np.array([1.0, 0.0]), 1.0)
    # theta = [0.5, 0], so [1, 0] (0.5) beats [0, 1] (0) and [0.5, 0.5] (0.25).
    assert policy.select(np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])) == 2


def test_epsilon_greedy_repeats_for_seed():
    contexts = np.eye(4)

    def picks(seed: int) -> list[int]:
        policy = EpsilonGreedy(4, seed=seed, epsilon=0.5)
        return [policy.select(contexts) for _ in range(40)]

    assert picks(3) == picks(3)
    assert picks(3) != picks(4)


def test_epsilon_greedy_extremes():
    contexts = np.eye(4)
    exploit = EpsilonGreedy(4, seed=0, epsilon=0.0)
    exploit.update(contexts[2], 1.0)
    assert {exploit.select(contexts) for _ in range(50)} == {2}

    explore = EpsilonGreedy(4, seed=0, epsilon=1.0)
    explore.update(contexts[2], 1.0)
    counts = np.bincount([explore.select(contexts) for _ in range(4000)], minlength=4)
    # Uniform over 4 rows: 1000 each, standard deviation about 27.
    assert counts.min() > 850
    assert counts.max() < 1150


@pytest.mark.parametrize("cls,params", [(LinUCB, {"alpha": 0.3}), (LinearThompson, {"v": 0.7}), (EpsilonGreedy, {"epsilon": 0.4})])
def test_checkpoint_round_trip(tmp_path: Path, cls, params):
    rng = np.random.default_rng(0)
    contexts = [rng.normal(size=(5, 3)) for _ in range(20)]
    policy = cls(3, np.ones(3), [7, 1], prior_weight=0.5, **params)
    for X in contexts[:10]:
        policy.update(X[policy.select(X)], 1.0)

    path = tmp_path / "policy.pt"
    save_policy(policy, path)
    restored = load_policy(cls(3, np.ones(3), 0, prior_weight=0.5, **params), path)

    np.testing.assert_array_equal(restored.A, policy.A)
    np.testing.assert_array_equal(restored.b, policy.b)
    for X in contexts[10:]:
        pick = policy.select(X)
        assert restored.select(X) == pick
        policy.update(X[pick], 0.0)
        restored.update(X[pick], 0.0)


def test_checkpoint_rejects_other_hyperparameters(tmp_path: Path):
    path = tmp_path / "policy.pt"
    save_policy(LinUCB(3, alpha=0.3), path)

    with pytest.raises(CheckpointError, match="alpha"):
        load_policy(LinUCB(3, alpha=0.4), path)
    with pytest.raises(CheckpointError, match="policy"):
        load_policy(LinearThompson(3), path)


def test_invalid_exploration_values():
    with pytest.raises(ConfigError, match="epsilon"):
        EpsilonGreedy(2, epsilon=1.5)
    with pytest.raises(ConfigError, match="alpha"):
        LinUCB(2, alpha=-1.0)
    with pytest.raises(ConfigError, match="ridge"):
        LinearThompson(2, ridge=0.0)
