"""Simulator mode: a recommender fitted on all interactions draws the users' rewards.

The simulator is the configured base model trained for a fixed number of
epochs on every interaction (train, valid and test), with no early stopping
because no held-out data is left. Its score ``f(u, i)`` becomes a reward
probability by Platt scaling (Platt, "Probabilistic outputs for support
vector machines", 1999)::

    p(u, i) = sigmoid(slope * f(u, i) + intercept)

with ``slope`` and ``intercept`` fitted by logistic regression on every
logged interaction, labelled ``rating >= reward_threshold``, plus
``calibration_negatives`` uniformly drawn unobserved (user, item) pairs per
interaction, labelled 0. So ``p`` estimates the chance that the user consumes
the item and rates it at least ``reward_threshold``. The number of drawn
negatives sets its base rate.

At every test event (time order, the replay's candidates) the policy shows
one candidate, its reward is drawn from ``p`` and the policy updates, so every
event counts. The expected regret of an event is ``max_j p(u, j) - p(u, pick)``
over the candidates: regret against the simulator's own best choice.

NOTE: the simulator rewards what its own model believes. A policy that agrees
with the simulator's model looks good whether or not real users would agree,
and a base model of the same architecture shares its biases.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TRAIN
from graphrec.experiments.config import ModelConfig, TrainConfig
from graphrec.experiments.runner import seed_everything
from graphrec.graph.build import build_graph
from graphrec.models.base import Recommender
from graphrec.models.registry import build_model
from graphrec.rl.events import Event
from graphrec.rl.policies import Policy
from graphrec.rl.replay import OVERALL, ContextFunction
from graphrec.train.sampling import UniformNegativeSampler

logger = logging.getLogger(__name__)


@dataclass
class Calibration:
    """Platt scaling of recommender scores: ``p = sigmoid(slope * score + intercept)``."""

    slope: float
    intercept: float

    def probability(self, scores: np.ndarray) -> np.ndarray:
        logits = self.slope * np.asarray(scores, dtype=np.float64) + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))


def fit_calibration(scores: np.ndarray, labels: np.ndarray) -> Calibration:
    """Fit Platt scaling by (nearly unregularised) logistic regression of ``labels`` on ``scores``."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("calibration needs both rewarded and unrewarded examples")
    regression = LogisticRegression(C=1e4, max_iter=1000)
    regression.fit(np.asarray(scores, dtype=np.float64).reshape(-1, 1), labels)
    return Calibration(slope=float(regression.coef_[0, 0]), intercept=float(regression.intercept_[0]))


def all_interactions(dataset: RecDataset) -> RecDataset:
    """Return ``dataset`` with every interaction relabelled as training data."""
    return dataclasses.replace(dataset, splits=np.full(len(dataset.splits), TRAIN, dtype=np.int8))


def fit_on_all_interactions(
    spec: ModelConfig, dataset: RecDataset, epochs: int, seed: int, progress: bool = False
) -> Recommender:
    """Train the model of ``spec`` for ``epochs`` epochs on every interaction of ``dataset``.

    Uses the BPR loop of :class:`graphrec.train.trainer.Trainer` (Adam, one
    uniform negative per positive, the spec's batch size, learning rate and
    weight decay) without validation or early stopping.
    """
    full = all_interactions(dataset)
    graph = build_graph(full)
    seed_everything(seed)
    model = build_model(spec.name, spec.params, full, graph)
    if not model.trainable:
        model.fit(full)
        model.eval()
        return model

    train = TrainConfig(**spec.train)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=train.learning_rate, weight_decay=train.weight_decay)
    sampler = UniformNegativeSampler(full.train_matrix, rng)
    for epoch in tqdm(range(1, epochs + 1), desc="simulator", disable=not progress, leave=False):
        loss = _run_epoch(model, optimizer, sampler, full, rng, train.batch_size)
        logger.info("simulator %s epoch %d: loss %.4f", spec.display_name, epoch, loss)
    model.eval()
    model.prepare_scoring()
    return model


def _run_epoch(model, optimizer, sampler, dataset: RecDataset, rng: np.random.Generator, batch_size: int) -> float:
    model.train()
    if model.custom_epoch:
        return float(model.train_epoch(dataset, optimizer, rng, batch_size))
    users, items, scenarios = dataset.users, dataset.items, dataset.scenarios
    order = rng.permutation(len(users))
    total, batches = 0.0, 0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        negatives = sampler.sample(users[rows])
        loss = model.loss(
            torch.from_numpy(users[rows]), torch.from_numpy(items[rows]),
            torch.from_numpy(negatives), torch.from_numpy(scenarios[rows]),
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        batches += 1
    return total / max(batches, 1)


@torch.no_grad()
def score_matrix(model: Recommender, n_users: int, batch_size: int = 1024) -> np.ndarray:
    """Return the model's dense ``[n_users, n_items]`` scores as float32."""
    # NOTE: the whole matrix is kept in memory (6.8 MB for ml-100k, 90 MB for ml-1m).
    model.eval()
    model.prepare_scoring()
    blocks = []
    for start in range(0, n_users, batch_size):
        users = torch.arange(start, min(start + batch_size, n_users))
        blocks.append(model.score(users).float().numpy())
    return np.concatenate(blocks, axis=0)


@dataclass
class Simulator:
    """Reward probabilities ``p(u, i)`` from a recommender's scores and their calibration."""

    scores: np.ndarray
    calibration: Calibration

    def probabilities(self, user: int, items: np.ndarray) -> np.ndarray:
        return self.calibration.probability(self.scores[user, items])


def build_simulator(
    spec: ModelConfig,
    dataset: RecDataset,
    epochs: int,
    seed: int,
    reward_threshold: float,
    calibration_negatives: int,
    progress: bool = False,
) -> Simulator:
    """Fit the simulator's recommender on all interactions and calibrate its scores."""
    model = fit_on_all_interactions(spec, dataset, epochs, seed, progress)
    scores = score_matrix(model, dataset.n_users)

    labels = (dataset.ratings >= reward_threshold).astype(np.int64)
    example_scores = [scores[dataset.users, dataset.items]]
    example_labels = [labels]
    if calibration_negatives > 0:
        rng = np.random.default_rng(seed)
        sampler = UniformNegativeSampler(all_interactions(dataset).train_matrix, rng)
        users = np.repeat(dataset.users, calibration_negatives)
        negatives = sampler.sample(users)
        example_scores.append(scores[users, negatives])
        example_labels.append(np.zeros(len(users), dtype=np.int64))

    calibration = fit_calibration(np.concatenate(example_scores), np.concatenate(example_labels))
    logger.info(
        "simulator calibration: p = sigmoid(%.4f * score + %.4f) from %d logged interactions and %d drawn negatives",
        calibration.slope, calibration.intercept, len(labels), len(labels) * calibration_negatives,
    )
    return Simulator(scores=scores, calibration=calibration)


@dataclass
class SimulationTrace:
    """Per-event outcome of one simulation, in time order."""

    scenarios: np.ndarray
    rewards: np.ndarray
    chosen_probability: np.ndarray
    best_probability: np.ndarray

    def cumulative_reward(self) -> np.ndarray:
        return np.cumsum(self.rewards)

    def summary(self, scenario_names: tuple[str, ...]) -> dict[str, dict[str, float]]:
        """Return the simulator metrics overall (``"all"``) and per scenario."""
        out = {OVERALL: self._metrics(np.ones(len(self.scenarios), dtype=bool))}
        for s, name in enumerate(scenario_names):
            out[name] = self._metrics(self.scenarios == s)
        return out

    def _metrics(self, keep: np.ndarray) -> dict[str, float]:
        events = int(keep.sum())
        reward = float(self.rewards[keep].sum())
        chosen = float(self.chosen_probability[keep].sum())
        best = float(self.best_probability[keep].sum())
        return {
            "events": float(events),
            "cumulative_reward": reward,
            "reward_rate": reward / events if events else float("nan"),
            "expected_reward_rate": chosen / events if events else float("nan"),
            "best_reward_rate": best / events if events else float("nan"),
            "cumulative_regret": best - chosen,
        }


def simulate(
    policy: Policy,
    events: Iterable[Event],
    contexts: ContextFunction,
    simulator: Simulator,
    uniforms: np.ndarray,
    n_events: int | None = None,
    progress: bool = False,
    label: str = "simulator",
) -> SimulationTrace:
    """Run ``policy`` on ``events`` with rewards drawn from ``simulator``.

    The reward of event ``t`` is ``uniforms[t] < p(u, pick)``. Passing the same
    ``uniforms`` to every policy of a seed (common random numbers) makes their
    differences depend on their choices, not on the luck of the draws. An event
    without candidates shows nothing and earns and loses nothing.
    """
    scenarios, rewards, chosen, best = [], [], [], []
    for event in tqdm(events, total=n_events, desc=label, disable=not progress, leave=False):
        scenarios.append(event.scenario)
        if len(event.candidates) == 0:
            rewards.append(0.0)
            chosen.append(0.0)
            best.append(0.0)
            continue

        X = contexts(event.user, event.scenario, event.candidates)
        pick = policy.select(X)
        probabilities = simulator.probabilities(event.user, event.candidates)
        reward = 1.0 if uniforms[event.index] < probabilities[pick] else 0.0
        policy.update(X[pick], reward)
        rewards.append(reward)
        chosen.append(float(probabilities[pick]))
        best.append(float(probabilities.max()))

    return SimulationTrace(
        scenarios=np.asarray(scenarios, dtype=np.int64),
        rewards=np.asarray(rewards, dtype=np.float64),
        chosen_probability=np.asarray(chosen, dtype=np.float64),
        best_probability=np.asarray(best, dtype=np.float64),
    )
