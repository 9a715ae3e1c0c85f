"""Evaluate rating predictions: RMSE and MAE, overall and per scenario.

A model's predicted rating for an interaction is ``offset +
pair_logits(model, user, item, scenario)``, where ``offset`` is the mean
training rating, so embedding models learn the deviation from the mean.
"""

from __future__ import annotations

import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.split import SPLIT_NAMES
from graphrec.eval.rating import rating_metrics
from graphrec.models.base import Recommender
from graphrec.models.pointwise import PairScorer

DEFAULT_PAIR_BATCH_SIZE = 65536


@torch.no_grad()
def predict_ratings(
    model: Recommender, dataset: RecDataset, rows: np.ndarray, offset: float, batch_size: int = DEFAULT_PAIR_BATCH_SIZE
) -> np.ndarray:
    """Return ``offset + pair_logits`` as float64 for the interactions at indices ``rows``."""
    model.eval()
    scorer = PairScorer(model)
    users = torch.from_numpy(dataset.users[rows])
    items = torch.from_numpy(dataset.items[rows])
    scenarios = torch.from_numpy(dataset.scenarios[rows])
    parts = [
        scorer(users[start : start + batch_size], items[start : start + batch_size], scenarios[start : start + batch_size])
        .double().cpu().numpy()
        for start in range(0, len(rows), batch_size)
    ]
    return offset + (np.concatenate(parts) if parts else np.empty(0))


def evaluate_rating(model: Recommender, dataset: RecDataset, split: int, offset: float) -> dict[str, dict[str, float]]:
    """Compute RMSE and MAE of ``model`` on one split, keyed ``"all"`` and each scenario name."""
    rows = np.flatnonzero(dataset.splits == split)
    if rows.size == 0:
        raise ValueError(f"split {SPLIT_NAMES[split]!r} has no interactions to evaluate")
    predicted = predict_ratings(model, dataset, rows, offset)
    return rating_metrics(dataset.ratings[rows], predicted, dataset.scenarios[rows], dataset.scenario_names)
