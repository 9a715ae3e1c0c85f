"""Offline replay evaluation of a bandit policy on logged events.

The replay method of Li, Chu, Langford and Wang ("Unbiased offline evaluation
of contextual-bandit-based news article recommendation algorithms", WSDM
2011): go through the logged events in time order. At each event the policy
picks one item from the candidates. The event counts only when the pick is
the logged item, and then the policy receives the reward and updates. Unmatched
events are dropped, as if they never happened.

Here the reward of a matched event is ``rating >= reward_threshold``. Events
whose logged item is not among the candidates cannot match. They are skipped
without calling the policy, so they draw no random numbers, and counted as
``outside_candidates``.

NOTE: the estimate is unbiased only when the logging policy chose uniformly
at random among the same candidates. MovieLens events are users' own choices,
so the replay favours policies that predict what users rated next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from graphrec.rl.events import Event
from graphrec.rl.policies import Policy

OVERALL = "all"

#: ``contexts(user, scenario, items) -> [len(items), d]``.
ContextFunction = Callable[[int, int, np.ndarray], np.ndarray]


@dataclass
class ReplayTrace:
    """Per-event outcome of one replay, in time order."""

    scenarios: np.ndarray
    in_candidates: np.ndarray
    matched: np.ndarray
    rewards: np.ndarray

    def cumulative_reward(self) -> np.ndarray:
        return np.cumsum(self.rewards)

    def summary(self, scenario_names: tuple[str, ...]) -> dict[str, dict[str, float]]:
        """Return the replay metrics overall (``"all"``) and per scenario."""
        out = {OVERALL: _replay_metrics(np.ones(len(self.scenarios), dtype=bool), self)}
        for s, name in enumerate(scenario_names):
            out[name] = _replay_metrics(self.scenarios == s, self)
        return out


def _replay_metrics(keep: np.ndarray, trace: ReplayTrace) -> dict[str, float]:
    events = int(keep.sum())
    in_candidates = int(trace.in_candidates[keep].sum())
    matched = int(trace.matched[keep].sum())
    reward = float(trace.rewards[keep].sum())
    return {
        "events": float(events),
        "outside_candidates": float(events - in_candidates),
        "matched": float(matched),
        "match_rate": matched / in_candidates if in_candidates else float("nan"),
        "cumulative_reward": reward,
        "reward_rate": reward / matched if matched else float("nan"),
    }


def replay(
    policy: Policy,
    events: Iterable[Event],
    contexts: ContextFunction,
    reward_threshold: float = 4.0,
    n_events: int | None = None,
    progress: bool = False,
    label: str = "replay",
) -> ReplayTrace:
    """Replay ``events`` (in time order, with their candidates) through ``policy``."""
    scenarios, in_candidates, matched, rewards = [], [], [], []
    for event in tqdm(events, total=n_events, desc=label, disable=not progress, leave=False):
        scenarios.append(event.scenario)
        hit = bool(np.any(event.candidates == event.item))
        in_candidates.append(hit)
        if not hit:
            matched.append(False)
            rewards.append(0.0)
            continue

        X = contexts(event.user, event.scenario, event.candidates)
        pick = policy.select(X)
        if event.candidates[pick] != event.item:
            matched.append(False)
            rewards.append(0.0)
            continue

        reward = 1.0 if event.rating >= reward_threshold else 0.0
        policy.update(X[pick], reward)
        matched.append(True)
        rewards.append(reward)

    return ReplayTrace(
        scenarios=np.asarray(scenarios, dtype=np.int64),
        in_candidates=np.asarray(in_candidates, dtype=bool),
        matched=np.asarray(matched, dtype=bool),
        rewards=np.asarray(rewards, dtype=np.float64),
    )
