"""Run every policy of an RL config on every seed and mode.

For each seed the base model is trained with the benchmark pipeline
(:func:`graphrec.experiments.runner.run_model`: early stopping on the
validation split) and gives each test user a ranked pool of unseen items. Each
policy then re-ranks the top ``rl.candidates`` of that pool at every test
event, in replay mode, simulator mode or both. The simulator is fitted once,
with ``protocol.seed``, so it is the same environment for every seed. Its
reward draws change with the seed and are shared by all policies of a seed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graphrec.data.dataset import RecDataset
from graphrec.errors import DataError
from graphrec.experiments.runner import ModelRun, run_model
from graphrec.graph.build import build_graph
from graphrec.models.registry import build_model
from graphrec.rl.config import REFERENCE_POLICY, PolicyConfig, RLConfig
from graphrec.rl.context import ContextBuilder, model_embeddings
from graphrec.rl.events import EventLog, iterate_events, ranked_pools, logged_test_events
from graphrec.rl.policies import build_policy, save_policy
from graphrec.rl.replay import OVERALL, replay
from graphrec.rl.simulator import Simulator, build_simulator, simulate

logger = logging.getLogger(__name__)


@dataclass
class PolicyRun:
    """One policy on one seed and mode: metric rows and the cumulative reward per event."""

    label: str
    seed: int
    mode: str
    rows: list[dict]
    cumulative_reward: np.ndarray


@dataclass
class RLRun:
    """Everything an RL evaluation produced."""

    policy_runs: list[PolicyRun] = field(default_factory=list)
    base_rows: list[dict] = field(default_factory=list)

    @property
    def rows(self) -> list[dict]:
        return [row for run in self.policy_runs for row in run.rows]


@dataclass
class _BaseState:
    """The base model of one seed and what the policies read from it."""

    run: ModelRun
    contexts: ContextBuilder
    pools: dict[int, np.ndarray]


def run_rl(
    config: RLConfig,
    dataset: RecDataset,
    checkpoint_root: Path | None = None,
    progress: bool = True,
    on_policy_run: Callable[[PolicyRun], None] | None = None,
) -> RLRun:
    """Evaluate every policy of ``config`` for every seed and mode on ``dataset``."""
    rl = config.rl
    log = logged_test_events(dataset)
    if len(log) == 0:
        raise DataError(f"dataset {dataset.name} has no test interactions to replay; check protocol.split")
    graph = build_graph(dataset)
    _check_embeddings(config, dataset, graph)

    simulator = None
    if "simulator" in rl.modes:
        simulator = build_simulator(
            config.base_model, dataset, rl.simulator.epochs, config.protocol.seed, rl.reward_threshold,
            rl.simulator.calibration_negatives, progress,
        )

    result = RLRun()
    base: _BaseState | None = None
    for offset in range(config.seeds):
        seed = config.protocol.seed + offset
        if base is None or rl.retrain_base:
            base = _train_base(config, dataset, graph, log, seed, progress, checkpoint_root)
            result.base_rows.extend(base.run.rows)
        for mode in rl.modes:
            # One uniform draw per event, shared by every policy of this seed (common random numbers).
            uniforms = np.random.default_rng([seed, 1]).random(len(log))
            for index, spec in enumerate(rl.policies):
                run = _run_policy(
                    config, spec, index, seed, mode, base, log, dataset, simulator, uniforms, progress, checkpoint_root
                )
                result.policy_runs.append(run)
                if on_policy_run is not None:
                    on_policy_run(run)
    return result


def _check_embeddings(config: RLConfig, dataset: RecDataset, graph) -> None:
    """Fail before training when the base model has no embeddings to build contexts from."""
    spec = config.base_model
    model_embeddings(build_model(spec.name, spec.params, dataset, graph), spec.display_name)


def _train_base(config, dataset, graph, log: EventLog, seed: int, progress: bool, checkpoint_root) -> _BaseState:
    spec = config.base_model
    run = run_model(config, 0, dataset, graph, seed, progress, checkpoint_root)
    contexts = ContextBuilder.from_model(run.model, dataset, spec.display_name)
    pools = ranked_pools(run.model, dataset, log, config.rl.candidates, config.protocol.eval_batch_size)

    inside = sum(
        1 for event in iterate_events(log, pools, config.rl.candidates) if np.any(event.candidates == event.item)
    )
    logger.info(
        "base %s (seed %d): logged item among the top %d candidates at %d of %d test events (%.1f%%)",
        spec.display_name, seed, config.rl.candidates, inside, len(log), 100.0 * inside / len(log),
    )
    return _BaseState(run, contexts, pools)


def _run_policy(
    config: RLConfig,
    spec: PolicyConfig,
    index: int,
    seed: int,
    mode: str,
    base: _BaseState,
    log: EventLog,
    dataset: RecDataset,
    simulator: Simulator | None,
    uniforms: np.ndarray,
    progress: bool,
    checkpoint_root: Path | None,
) -> PolicyRun:
    rl = config.rl
    label = spec.display_name
    policy = build_policy(spec.name, spec.params, base.contexts.dim, base.contexts.score_direction(), seed=[seed, index])
    events = iterate_events(log, base.pools, rl.candidates)
    description = f"{mode} {label} seed {seed}"
    if mode == "replay":
        trace = replay(policy, events, base.contexts.contexts, rl.reward_threshold, len(log), progress, description)
    else:
        trace = simulate(policy, events, base.contexts.contexts, simulator, uniforms, len(log), progress, description)

    if checkpoint_root is not None:
        save_policy(policy, checkpoint_root / f"policy-{label}-{mode}-seed{seed}.pt")

    summary = trace.summary(dataset.scenario_names)
    rows = [
        {"policy": label, "seed": seed, "mode": mode, "scenario": scenario, "metric": metric, "value": value}
        for scenario, values in summary.items()
        for metric, value in values.items()
    ]
    overall = summary[OVERALL]
    logger.info(
        "%s: cumulative reward %.0f, reward rate %.4f%s",
        description, overall["cumulative_reward"], overall["reward_rate"],
        f", matched {overall['matched']:.0f}" if mode == "replay" else f", regret {overall['cumulative_regret']:.1f}",
    )
    return PolicyRun(label, seed, mode, rows, trace.cumulative_reward())


__all__ = ["PolicyRun", "RLRun", "REFERENCE_POLICY", "run_rl"]
