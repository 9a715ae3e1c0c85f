"""Scoring tables: a trained model's final representations, computed once at load.

A request must not run message passing. For the inner-product models
(BPR-MF, LightGCN, ScenarioGNN) the service keeps, per scenario ``s``, the
final user matrix ``U_s`` and item matrix ``I_s`` as NumPy arrays, so scoring
one user is the matrix-vector product ``I_s @ U_s[u]``. Models whose scores
do not factorise this way (Pop, or a model whose ``propagate`` returns
something else) get dense score tables instead, and fold-in is then not
available.

The factor tables are read from ``model.propagate()`` or from the
``user_emb`` and ``item_emb`` embeddings, and are accepted only when they
reproduce ``model.score`` on a sample of users.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from graphrec.models.base import Recommender

logger = logging.getLogger(__name__)

#: Users whose scores are compared with ``model.score`` before the factor tables are used.
CHECKED_USERS = 32

#: Largest dense score table (all scenarios together) kept in memory for models without factors.
MAX_DENSE_MB = 1024.0


@dataclass
class FactorTables:
    """Per-scenario final representations: ``score(u, i, s) = users[s][u] . items[s][i]``.

    Scenario-independent models (BPR-MF, LightGCN) repeat one array object
    for every scenario.
    """

    users: list[np.ndarray]
    items: list[np.ndarray]

    @property
    def shared(self) -> bool:
        """True when every scenario uses the same tables."""
        return all(table is self.items[0] for table in self.items)

    def scores(self, user_vector: np.ndarray, scenario: int) -> np.ndarray:
        return self.items[scenario] @ user_vector


class DenseScores:
    """Scores of a model without factor tables: precomputed when they fit in memory, else per request."""

    def __init__(self, model: Recommender, n_users: int, n_items: int, n_scenarios: int, max_mb: float = MAX_DENSE_MB):
        self.model = model
        self.tables: list[np.ndarray] | None = None
        size_mb = n_users * n_items * n_scenarios * 4 / 2**20
        if size_mb <= max_mb:
            self.tables = [_score_all(model, n_users, s) for s in range(n_scenarios)]
        else:
            # NOTE: per-request scoring runs the model's own score(), whose latency this package does not control.
            logger.warning(
                "dense score tables would take %.0f MB (limit %.0f MB); scoring each request with the model",
                size_mb, max_mb,
            )

    def scores(self, user: int, scenario: int) -> np.ndarray:
        if self.tables is not None:
            return self.tables[scenario][user]
        with torch.no_grad():
            return self.model.score(torch.tensor([user]), scenario=scenario)[0].numpy()


def _score_all(model: Recommender, n_users: int, scenario: int, batch: int = 1024) -> np.ndarray:
    with torch.no_grad():
        parts = [
            model.score(torch.arange(start, min(start + batch, n_users)), scenario=scenario).numpy()
            for start in range(0, n_users, batch)
        ]
    return np.ascontiguousarray(np.concatenate(parts).astype(np.float32))


def extract_factor_tables(model: Recommender, n_scenarios: int) -> FactorTables | None:
    """Read the final representations of an inner-product model, or return None when it has none."""
    candidate = _candidate_tables(model, n_scenarios)
    if candidate is None:
        return None
    if not _reproduces_scores(model, candidate):
        logger.warning(
            "the factor tables of %s do not reproduce its scores; using dense score tables", type(model).__name__
        )
        return None
    return candidate


def _candidate_tables(model: Recommender, n_scenarios: int) -> FactorTables | None:
    with torch.no_grad():
        if callable(getattr(model, "propagate", None)):
            try:
                output = model.propagate()
            except (TypeError, ValueError, RuntimeError) as err:
                logger.warning("propagate() of %s failed (%s); using dense score tables", type(model).__name__, err)
                return None
        elif isinstance(getattr(model, "user_emb", None), nn.Embedding) and isinstance(
            getattr(model, "item_emb", None), nn.Embedding
        ):
            output = (model.user_emb.weight, model.item_emb.weight)
        else:
            return None

    if not (isinstance(output, tuple) and len(output) == 2 and all(torch.is_tensor(t) for t in output)):
        return None
    users, items = (t.detach().float().numpy() for t in output)
    if users.shape[0] != model.n_users or items.shape[0] != model.n_items:
        return None

    if users.ndim == 2 and items.ndim == 2 and users.shape[1] == items.shape[1]:
        users, items = np.ascontiguousarray(users), np.ascontiguousarray(items)
        return FactorTables([users] * n_scenarios, [items] * n_scenarios)
    if users.ndim == 3 and items.ndim == 3 and users.shape[1] == items.shape[1] == n_scenarios:
        return FactorTables(
            [np.ascontiguousarray(users[:, s]) for s in range(n_scenarios)],
            [np.ascontiguousarray(items[:, s]) for s in range(n_scenarios)],
        )
    return None


def _reproduces_scores(model: Recommender, tables: FactorTables) -> bool:
    """Compare ``users[s] @ items[s].T`` with ``model.score`` for a spread of users in every scenario."""
    sample = np.unique(np.linspace(0, model.n_users - 1, num=min(CHECKED_USERS, model.n_users)).astype(np.int64))
    for scenario in range(len(tables.items)):
        with torch.no_grad():
            expected = model.score(torch.from_numpy(sample), scenario=scenario).float().numpy()
        actual = tables.users[scenario][sample] @ tables.items[scenario].T
        tolerance = 1e-4 * max(float(np.abs(expected).max()), 1.0)
        if expected.shape != actual.shape or not np.allclose(actual, expected, rtol=1e-4, atol=tolerance):
            return False
    return True
