"""Evaluate a model under the CTR protocol: AUC and log loss of its pair probabilities.

Each interaction of the split is one example. Its label is 1 when the rating
passes the protocol's threshold (see :func:`graphrec.eval.ctr.ctr_labels`),
and the model's probability is ``sigmoid`` of
:func:`graphrec.models.pointwise.pair_logits` in the interaction's scenario.
"""

from __future__ import annotations

import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.split import SPLIT_NAMES
from graphrec.eval.ctr import ctr_metrics
from graphrec.models.base import Recommender
from graphrec.models.pointwise import PairScorer

# Rows scored per batch. Only the gathered user vectors, item vectors and their
# product, each [batch, d], scale with it: about 50 MB at d = 64 in float32.
DEFAULT_PAIR_BATCH_SIZE = 65536


@torch.no_grad()
def predict_probabilities(
    model: Recommender, dataset: RecDataset, rows: np.ndarray, batch_size: int = DEFAULT_PAIR_BATCH_SIZE
) -> np.ndarray:
    """Return ``sigmoid(pair_logits)`` as float64 for the interactions at indices ``rows``.

    The model is put in eval mode. The sigmoid runs in float64 so that
    probabilities near 0 or 1 keep their precision for the log loss.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model.eval()
    scorer = PairScorer(model)
    users = torch.from_numpy(dataset.users[rows])
    items = torch.from_numpy(dataset.items[rows])
    scenarios = torch.from_numpy(dataset.scenarios[rows])

    parts = []
    for start in range(0, len(rows), batch_size):
        stop = start + batch_size
        logits = scorer(users[start:stop], items[start:stop], scenarios[start:stop])
        parts.append(torch.sigmoid(logits.double()).cpu().numpy())
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def evaluate_ctr(
    model: Recommender,
    dataset: RecDataset,
    split: int,
    labels: np.ndarray,
    batch_size: int = DEFAULT_PAIR_BATCH_SIZE,
) -> dict[str, dict[str, float]]:
    """Compute AUC and log loss of ``model`` on one split, overall and per scenario.

    ``labels`` contains one 0/1 label per interaction of ``dataset`` (all
    splits). Returns ``{"all" or scenario name: {"auc", "logloss", "count"}}``,
    with every scenario name present. A scenario without rows in the split, or
    whose labels are all one class, gets a NaN AUC and a logged warning, as
    :func:`graphrec.eval.ctr.ctr_metrics` describes. Raises ValueError when
    ``labels`` does not match the dataset or the split has no interactions.
    """
    labels = np.asarray(labels)
    if labels.shape != dataset.splits.shape:
        raise ValueError(
            f"labels must have one entry per interaction ({dataset.splits.shape[0]}), got shape {labels.shape}; "
            "build them with graphrec.eval.ctr.ctr_labels(dataset.ratings)"
        )
    rows = np.flatnonzero(dataset.splits == split)
    if rows.size == 0:
        split_name = SPLIT_NAMES[split] if 0 <= split < len(SPLIT_NAMES) else str(split)
        raise ValueError(f"split {split_name!r} has no interactions to evaluate")

    probabilities = predict_probabilities(model, dataset, rows, batch_size)
    return ctr_metrics(labels[rows], probabilities, dataset.scenarios[rows], dataset.scenario_names)
