"""Click-through-rate (CTR) metrics: ROC AUC and log loss, overall and per group.

A CTR model outputs one probability per (user, item) pair. Its labels are
binary. For rating data, :func:`ctr_labels` turns ratings into such labels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

logger = logging.getLogger(__name__)

OVERALL = "all"

GroupKey = str | int


def _validate_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D array, got shape {labels.shape}")
    if labels.dtype != np.bool_ and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be bool or contain only 0 and 1, got values {np.unique(labels)[:10]}")
    return labels.astype(np.int64)


def _validate_values(name: str, values: np.ndarray, n_rows: int) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] != n_rows:
        raise ValueError(f"{name} must be a 1-D array of length {n_rows} to match labels, got shape {values.shape}")
    if values.size > 0 and not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {values.dtype}")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains {int((~np.isfinite(values)).sum())} NaN or infinite values")
    return values


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Compute the ROC AUC of ``scores`` against binary ``labels``.

    This is ``sklearn.metrics.roc_auc_score``: the probability that a random
    positive scores above a random negative, with ties counting one half.
    Raises ValueError unless both classes occur.
    """
    labels = _validate_labels(labels)
    scores = _validate_values("scores", scores, labels.shape[0])
    n_positive = int(labels.sum())
    if n_positive == 0 or n_positive == labels.shape[0]:
        raise ValueError(
            f"AUC needs both positive and negative labels, got {n_positive} positives among {labels.shape[0]} rows"
        )
    return float(roc_auc_score(labels, scores))


def logloss(labels: np.ndarray, probabilities: np.ndarray, eps: float = 1e-7) -> float:
    """Compute the mean binary cross-entropy in nats, with probabilities clipped to [eps, 1 - eps].

    The clipping keeps a confident wrong prediction finite. It makes the value
    differ from ``sklearn.metrics.log_loss`` for probabilities within ``eps``
    of 0 or 1. Raises ValueError for an empty input or a probability outside
    [0, 1].
    """
    labels = _validate_labels(labels)
    probabilities = _validate_values("probabilities", probabilities, labels.shape[0])
    if labels.shape[0] == 0:
        raise ValueError("logloss needs at least one row, got none")
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5), got {eps}")
    outside = (probabilities < 0.0) | (probabilities > 1.0)
    if outside.any():
        raise ValueError(
            f"probabilities must lie in [0, 1], got {probabilities[outside][0]} ({int(outside.sum())} values outside)"
        )

    clipped = np.clip(probabilities, eps, 1.0 - eps)
    losses = -(labels * np.log(clipped) + (1 - labels) * np.log(1.0 - clipped))
    return float(losses.mean())


def ctr_labels(ratings: np.ndarray, threshold: float = 3.0) -> np.ndarray:
    """Return int8 labels that are 1 where the rating is strictly above ``threshold``, else 0.

    With the default threshold, ratings 4 and 5 of a 1-5 scale are positive.
    """
    ratings = np.asarray(ratings)
    if ratings.size > 0 and not np.issubdtype(ratings.dtype, np.number):
        raise ValueError(f"ratings must be numeric, got dtype {ratings.dtype}")
    if np.isnan(ratings.astype(np.float64)).any():
        raise ValueError(f"ratings contain {int(np.isnan(ratings.astype(np.float64)).sum())} NaN values")
    return (ratings > threshold).astype(np.int8)


def rows_by_group(
    n_rows: int, groups: np.ndarray | None = None, group_names: Sequence[str] | None = None
) -> dict[GroupKey, np.ndarray]:
    """Map ``"all"`` and each group to the indices of its rows.

    ``groups`` contains one integer group code per row. With ``group_names``, the
    codes must lie in ``[0, len(group_names))``, the keys are the names and
    every name gets an entry, even one with no rows. Without it, the keys are
    the codes that occur, in ascending order.
    """
    result: dict[GroupKey, np.ndarray] = {OVERALL: np.arange(n_rows)}
    if groups is None:
        if group_names is not None:
            raise ValueError("group_names needs groups, one group code per row")
        return result

    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n_rows:
        raise ValueError(f"groups must be a 1-D array of length {n_rows}, got shape {groups.shape}")
    if groups.size > 0 and not np.issubdtype(groups.dtype, np.integer):
        raise ValueError(f"groups must hold integer group codes, got dtype {groups.dtype}")

    if group_names is None:
        for code in np.unique(groups):
            result[int(code)] = np.flatnonzero(groups == code)
        return result

    group_names = list(group_names)
    if OVERALL in group_names:
        raise ValueError(f"group name {OVERALL!r} is reserved for the overall result, got group_names={group_names}")
    if len(set(group_names)) != len(group_names):
        raise ValueError(f"group_names must be distinct, got {group_names}")
    outside = (groups < 0) | (groups >= len(group_names))
    if outside.any():
        raise ValueError(
            f"group code {int(groups[outside][0])} is outside [0, {len(group_names)}) of group_names={group_names}"
        )
    for code, name in enumerate(group_names):
        result[name] = np.flatnonzero(groups == code)
    return result


def metrics_by_group(
    compute: Callable[[GroupKey, np.ndarray], dict[str, float]],
    metric_names: Sequence[str],
    n_rows: int,
    groups: np.ndarray | None,
    group_names: Sequence[str] | None,
    log_prefix: str,
) -> dict[GroupKey, dict[str, float]]:
    """Call ``compute(key, rows)`` for ``"all"`` and each group and add a ``count`` entry.

    A group without rows gets NaN for every metric and a logged warning that
    starts with ``log_prefix`` (such as "CTR metrics").
    """
    results: dict[GroupKey, dict[str, float]] = {}
    for key, rows in rows_by_group(n_rows, groups, group_names).items():
        if rows.size == 0:
            logger.warning("%s: group %r has no rows, so its metrics are NaN", log_prefix, key)
            values = dict.fromkeys(metric_names, float("nan"))
        else:
            values = compute(key, rows)
        values["count"] = int(rows.size)
        results[key] = values
    return results


def ctr_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    groups: np.ndarray | None = None,
    group_names: Sequence[str] | None = None,
) -> dict[GroupKey, dict[str, float]]:
    """Compute AUC and log loss overall (key ``"all"``) and per group.

    Returns ``{group: {"auc": ..., "logloss": ..., "count": n_rows}}``. Groups
    are keyed as :func:`rows_by_group` describes. A group whose labels are all
    positive or all negative has no defined AUC, so it gets NaN and a logged
    warning. Its log loss is still computed.
    """
    labels = _validate_labels(labels)
    probabilities = _validate_values("probabilities", probabilities, labels.shape[0])

    def compute(key: GroupKey, rows: np.ndarray) -> dict[str, float]:
        group_labels = labels[rows]
        n_positive = int(group_labels.sum())
        if n_positive == 0 or n_positive == rows.size:
            logger.warning(
                "CTR metrics: group %r has only %s labels in its %d rows, so its AUC is NaN",
                key,
                "positive" if n_positive else "negative",
                rows.size,
            )
            group_auc = float("nan")
        else:
            group_auc = auc(group_labels, probabilities[rows])
        return {"auc": group_auc, "logloss": logloss(group_labels, probabilities[rows])}

    return metrics_by_group(compute, ("auc", "logloss"), labels.shape[0], groups, group_names, "CTR metrics")
