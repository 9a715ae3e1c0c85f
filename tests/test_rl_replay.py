"""Replay and simulator evaluation on toy logs whose outcome is worked out by hand, and the contexts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.models.base import Recommender
from graphrec.rl.context import ContextBuilder
from graphrec.rl.events import EventLog, iterate_events, ranked_pools, logged_test_events
from graphrec.rl.policies import Greedy, Policy
from graphrec.rl.replay import replay
from graphrec.rl.simulator import Calibration, Simulator, fit_calibration, simulate
from helpers import tiny_dataset

# Pools of unseen items, best first, and the toy log, given out of time order on purpose.
POOLS = {0: np.array([10, 11, 12, 13]), 1: np.array([20, 21, 22])}
N_CANDIDATES = 2
# (user, item, rating, scenario, timestamp)
TOY_LOG = [
    (0, 11, 4.0, 0, 3),
    (1, 21, 3.0, 1, 2),
    (0, 10, 5.0, 0, 1),
    (1, 22, 5.0, 1, 4),
    (1, 20, 2.0, 1, 6),
    (0, 99, 5.0, 0, 5),
]
# In time order, the candidates are the first 2 pool items not consumed at an earlier event:
# t1 u0 logged 10: [10, 11]      t2 u1 logged 21: [20, 21]   t3 u0 logged 11: [11, 12] (10 consumed)
# t4 u1 logged 22: [20, 22]      t5 u0 logged 99: [12, 13], 99 outside, skipped
# t6 u1 logged 20: [20] (21 and 22 consumed)
EXPECTED_CANDIDATES = [[10, 11], [20, 21], [11, 12], [20, 22], [12, 13], [20]]


def toy_log() -> EventLog:
    users, items, ratings, scenarios, timestamps = map(np.array, zip(*TOY_LOG))
    return EventLog.from_arrays(users, items, ratings, scenarios, timestamps)


def unit_contexts(user: int, scenario: int, items: np.ndarray) -> np.ndarray:
    """One-dimensional context equal to the item id, so updates show which item was learned from."""
    return np.asarray(items, dtype=np.float64).reshape(-1, 1)


class LastCandidate(Policy):
    """Pick the last candidate and record every call."""

    name = "last"

    def __init__(self):
        super().__init__(1)
        self.selects = 0
        self.updates: list[tuple[float, float]] = []

    def select(self, contexts):
        self.selects += 1
        return len(contexts) - 1

    def update(self, context, reward):
        self.updates.append((float(context[0]), reward))


def test_event_log_sorted_by_time():
    log = toy_log()
    np.testing.assert_array_equal(log.timestamps, [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(log.items, [10, 21, 11, 22, 99, 20])


def test_candidates_drop_consumed_items():
    events = list(iterate_events(toy_log(), POOLS, N_CANDIDATES))
    assert [e.candidates.tolist() for e in events] == EXPECTED_CANDIDATES


def test_replay_greedy_by_hand():
    """Greedy shows the first candidate.

    t1 shows 10 = logged, rating 5: matched, reward 1.  t2 shows 20 != 21.
    t3 shows 11 = logged, rating 4: matched, reward 1.  t4 shows 20 != 22.
    t5 skipped (99 outside).  t6 shows 20 = logged, rating 2: matched, reward 0.
    Overall: 6 events, 1 outside, 3 matched of 5, reward 2, rate 2/3.
    Scenario 0 (user 0): 3 events, 1 outside, 2 matched of 2, reward 2.
    Scenario 1 (user 1): 3 events, 0 outside, 1 matched of 3, reward 0.
    """
    trace = replay(Greedy(1), iterate_events(toy_log(), POOLS, N_CANDIDATES), unit_contexts, reward_threshold=4.0)
    summary = trace.summary(("s0", "s1"))

    assert summary["all"] == {
        "events": 6.0, "outside_candidates": 1.0, "matched": 3.0, "match_rate": 3 / 5,
        "cumulative_reward": 2.0, "reward_rate": 2 / 3,
    }
    assert summary["s0"] == {
        "events": 3.0, "outside_candidates": 1.0, "matched": 2.0, "match_rate": 1.0,
        "cumulative_reward": 2.0, "reward_rate": 1.0,
    }
    assert summary["s1"] == {
        "events": 3.0, "outside_candidates": 0.0, "matched": 1.0, "match_rate": 1 / 3,
        "cumulative_reward": 0.0, "reward_rate": 0.0,
    }
    np.testing.assert_array_equal(trace.cumulative_reward(), [1, 1, 2, 2, 2, 2])


def test_replay_updates_only_matched_events():
    """The last candidate: t1 11 != 10; t2 21 matched (rating 3, reward 0); t3 12 != 11;
    t4 22 matched (reward 1); t5 skipped without a call; t6 20 matched (reward 0)."""
    policy = LastCandidate()
    trace = replay(policy, iterate_events(toy_log(), POOLS, N_CANDIDATES), unit_contexts, reward_threshold=4.0)

    assert policy.selects == 5
    assert policy.updates == [(21.0, 0.0), (22.0, 1.0), (20.0, 0.0)]
    assert trace.matched.tolist() == [False, True, False, True, False, True]
    assert trace.summary(("s0", "s1"))["all"]["cumulative_reward"] == 1.0


def test_simulator_by_hand():
    """p = sigmoid(score); scores ln 3 and -ln 3 give p = 0.75 and 0.25.

    User 0 scores items 10..13 as [-ln3, ln3, -ln3, ln3], user 1 items 20..22 as [ln3, -ln3, 0].
    Greedy shows the first candidate; uniforms [0.5, 0.5, 0.8, 0.1, 0.3, 0.6]:
    t1 [10, 11] shows 10: p 0.25, best 0.75, reward 0.5 < 0.25 = 0, regret 0.5
    t2 [20, 21] shows 20: p 0.75, best 0.75, reward 1, regret 0
    t3 [11, 12] shows 11: p 0.75, best 0.75, 0.8 < 0.75 fails, reward 0, regret 0
    t4 [20, 22] shows 20: p 0.75, best 0.75, reward 1, regret 0
    t5 [12, 13] shows 12: p 0.25, best 0.75, 0.3 < 0.25 fails, reward 0, regret 0.5
    t6 [20] shows 20: p 0.75, reward 1, regret 0
    Overall: reward 3 of 6, expected reward (0.25 + 0.75 * 4 + 0.25) / 6 = 3.5 / 6, regret 1.0.
    """
    ln3 = np.log(3.0)
    scores = np.zeros((2, 30))
    scores[0, 10:14] = [-ln3, ln3, -ln3, ln3]
    scores[1, 20:23] = [ln3, -ln3, 0.0]
    simulator = Simulator(scores=scores, calibration=Calibration(slope=1.0, intercept=0.0))
    uniforms = np.array([0.5, 0.5, 0.8, 0.1, 0.3, 0.6])

    trace = simulate(Greedy(1), iterate_events(toy_log(), POOLS, N_CANDIDATES), unit_contexts, simulator, uniforms)
    overall = trace.summary(("s0", "s1"))["all"]

    np.testing.assert_array_equal(trace.rewards, [0, 1, 0, 1, 0, 1])
    assert overall["cumulative_reward"] == 3.0
    assert overall["reward_rate"] == 0.5
    assert overall["expected_reward_rate"] == pytest.approx(3.5 / 6)
    assert overall["best_reward_rate"] == pytest.approx(0.75)
    assert overall["cumulative_regret"] == pytest.approx(1.0)


def test_calibration_recovers_logistic_parameters():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=40_000)
    labels = (rng.random(40_000) < 1.0 / (1.0 + np.exp(-(2.0 * scores - 1.0)))).astype(int)

    calibration = fit_calibration(scores, labels)

    # Standard errors at this sample size are about 0.03 for both parameters.
    assert calibration.slope == pytest.approx(2.0, abs=0.12)
    assert calibration.intercept == pytest.approx(-1.0, abs=0.12)
    np.testing.assert_allclose(calibration.probability(np.array([0.0])), [1 / (1 + np.exp(-calibration.intercept))])


def test_contexts_by_hand():
    """e_u = [1, 2], e_i = [3, 4], c = 1: products [3, 8], score 11; scenario 1 of 2."""
    builder = ContextBuilder(np.array([[1.0, 2.0]]), np.array([[3.0, 4.0], [0.0, 1.0]]), n_scenarios=2, scale=1.0)

    contexts = builder.contexts(0, 1, np.array([0, 1]))

    np.testing.assert_allclose(contexts, [[3, 8, 0, 11, 0, 1], [0, 2, 0, 2, 0, 1]])
    np.testing.assert_allclose(contexts @ builder.score_direction(), [11, 2])
    assert builder.dim == 6


class FixedScores(Recommender):
    """Scores item i as -i for every user, so lower item indices rank first."""

    trainable = False

    def score(self, users, scenario=None):
        return -torch.arange(self.n_items, dtype=torch.float32).repeat(len(users), 1)


def test_ranked_pools_exclude_train_and_valid():
    """Tiny dataset, fixed split, pools of 1 candidate plus 1 per test event.

    User index 0 (raw 1) has train items 0, 1, 2, 3, 6, valid 4 and test 5.
    Only items 5 and 7 are unseen, so the pool is [5, 7]. User index 1
    (raw 2) has train 2, 3, 5, 6, valid 0 and test 7, so the unseen items are
    1, 4 and 7 and the pool is [1, 4].
    """
    dataset = tiny_dataset()
    log = logged_test_events(dataset)

    pools = ranked_pools(FixedScores(dataset, None), dataset, log, n_candidates=1)

    assert pools[0].tolist() == [5, 7]
    assert pools[1].tolist() == [1, 4]
    assert len(log) == 6
