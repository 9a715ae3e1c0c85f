"""Evaluate a model on a split, overall and per scenario, under full ranking.

Masking rules: at validation time the user's training items are masked; at
test time the training and validation items are. Per-scenario evaluation keeps
only the held-out interactions of that scenario and scores with the model's
view of that scenario. For item-level scenarios it ranks only the scenario's
items.

Cross-scenario cold start: for each scenario, the users who have held-out
items there but no training interaction there get their own entry,
``"<scenario>/cold-start"``. Their values are a subset of the scenario's
per-user values, so the entry costs no extra ranking. User-level scenarios
have no such users, because all of a user's interactions share one scenario.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TEST, TRAIN, VALID
from graphrec.eval.ranking import evaluate_full_ranking
from graphrec.models.base import Recommender
from graphrec.resources import MemoryBudget

OVERALL = "all"
COLD_START_SUFFIX = "/cold-start"


@dataclass
class EvalResult:
    """Per-user metric values of one split, keyed by scenario name (``"all"`` for overall)."""

    split: str
    per_user: dict[str, dict[str, np.ndarray]]

    def means(self) -> dict[str, dict[str, float]]:
        """Return the mean of every metric per scenario; users without held-out items are absent."""
        out = {}
        for scenario, values in self.per_user.items():
            out[scenario] = {
                name: float(np.mean(v)) if len(v) else float("nan") for name, v in values.items() if name != "users"
            }
        return out


def _exclusion(dataset: RecDataset, split: int):
    if split == VALID:
        return dataset.train_matrix
    if split == TEST:
        return (dataset.train_matrix + dataset.interaction_matrix(VALID)).tocsr()
    raise ValueError(f"cannot evaluate on split {split}; use VALID ({VALID}) or TEST ({TEST})")


@torch.no_grad()
def evaluate_model(
    model: Recommender,
    dataset: RecDataset,
    split: int,
    ks: tuple[int, ...] = (10, 20),
    metrics: tuple[str, ...] = ("recall", "ndcg", "precision", "hit", "mrr"),
    batch_size: int = 1024,
    per_scenario: bool = True,
    memory_budget: MemoryBudget | None = None,
) -> EvalResult:
    """Score ``model`` on ``split`` (VALID or TEST) overall and, optionally, per scenario.

    ``memory_budget`` caps the users per scoring batch, as in
    :func:`graphrec.eval.ranking.evaluate_full_ranking`, where None means the
    default budget.
    """
    was_training = model.training
    model.eval()
    # Restore the training mode also when ranking raises, for example ResourceError.
    try:
        model.prepare_scoring()
        exclude = _exclusion(dataset, split)
        all_users = np.arange(dataset.n_users)
        split_name = "valid" if split == VALID else "test"

        def scorer(scenario):
            return lambda users: model.score(torch.from_numpy(np.asarray(users, dtype=np.int64)), scenario=scenario)

        results = {
            OVERALL: evaluate_full_ranking(
                scorer(None),
                all_users,
                exclude,
                dataset.interaction_matrix(split),
                ks,
                metrics,
                batch_size,
                memory_budget=memory_budget,
            )
        }
        if per_scenario:
            for s, name in enumerate(dataset.scenario_names):
                candidates = None
                if dataset.scenario_level == "item":
                    candidates = dataset.item_scenario == s
                results[name] = evaluate_full_ranking(
                    scorer(s),
                    all_users,
                    exclude,
                    dataset.interaction_matrix(split, scenario=s),
                    ks,
                    metrics,
                    batch_size,
                    candidate_items=candidates,
                    memory_budget=memory_budget,
                )
            results.update(_cold_start(dataset, results))
    finally:
        model.train(was_training)
    return EvalResult(split=split_name, per_user=results)


__all__ = ["EvalResult", "evaluate_model", "OVERALL", "TRAIN", "VALID", "TEST"]


def _cold_start(dataset: RecDataset, results: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    """Return each scenario's per-user values restricted to users without training interactions there."""
    train = dataset.splits == TRAIN
    counts = np.zeros((dataset.n_users, dataset.n_scenarios), dtype=np.int64)
    np.add.at(counts, (dataset.users[train], dataset.scenarios[train]), 1)

    cold = {}
    for s, name in enumerate(dataset.scenario_names):
        values = results.get(name)
        if values is None or len(values["users"]) == 0:
            continue
        keep = counts[values["users"], s] == 0
        if not keep.any():
            continue
        # Coverage is a catalogue value (one element), not a per-user one, so it is left out.
        cold[name + COLD_START_SUFFIX] = {
            metric: array[keep] for metric, array in values.items() if not metric.startswith("coverage@")
        }
    return cold
