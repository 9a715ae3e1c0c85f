"""Rating-prediction metrics: RMSE and MAE, overall and per group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphrec.eval.ctr import GroupKey, metrics_by_group


def _validate_pair(true: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true = np.asarray(true)
    predicted = np.asarray(predicted)
    if true.ndim != 1 or predicted.shape != true.shape:
        raise ValueError(
            f"true and predicted must be 1-D arrays of the same length, got shapes {true.shape} and {predicted.shape}"
        )
    for name, values in (("true", true), ("predicted", predicted)):
        if values.size > 0 and not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"{name} ratings must be numeric, got dtype {values.dtype}")
        n_not_finite = int((~np.isfinite(values.astype(np.float64))).sum())
        if n_not_finite > 0:
            raise ValueError(f"{name} ratings contain {n_not_finite} NaN or infinite values")
    return true.astype(np.float64), predicted.astype(np.float64)


def _require_rows(true: np.ndarray, metric: str) -> None:
    if true.shape[0] == 0:
        raise ValueError(f"{metric} needs at least one rating, got none")


def rmse(true: np.ndarray, predicted: np.ndarray) -> float:
    """Compute the root mean squared error, sqrt(mean((true - predicted)^2))."""
    true, predicted = _validate_pair(true, predicted)
    _require_rows(true, "RMSE")
    return float(np.sqrt(np.mean((true - predicted) ** 2)))


def mae(true: np.ndarray, predicted: np.ndarray) -> float:
    """Compute the mean absolute error, mean(|true - predicted|)."""
    true, predicted = _validate_pair(true, predicted)
    _require_rows(true, "MAE")
    return float(np.mean(np.abs(true - predicted)))


def rating_metrics(
    true: np.ndarray,
    predicted: np.ndarray,
    groups: np.ndarray | None = None,
    group_names: Sequence[str] | None = None,
) -> dict[GroupKey, dict[str, float]]:
    """Compute RMSE and MAE overall (key ``"all"``) and per group.

    Returns ``{group: {"rmse": ..., "mae": ..., "count": n_rows}}``, with groups
    keyed as :func:`graphrec.eval.ctr.rows_by_group` describes. A group without
    rows gets NaN and a logged warning.
    """
    true, predicted = _validate_pair(true, predicted)

    def compute(key: GroupKey, rows: np.ndarray) -> dict[str, float]:
        return {"rmse": rmse(true[rows], predicted[rows]), "mae": mae(true[rows], predicted[rows])}

    return metrics_by_group(compute, ("rmse", "mae"), true.shape[0], groups, group_names, "rating metrics")
