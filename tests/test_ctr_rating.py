"""Tests for the CTR metrics (graphrec.eval.ctr) and the rating metrics (graphrec.eval.rating)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from graphrec.eval.ctr import auc, ctr_labels, ctr_metrics, logloss, rows_by_group
from graphrec.eval.rating import mae, rating_metrics, rmse

# ---------------------------------------------------------------------------
# auc


def test_auc_two_positives_two_negatives():
    labels = np.array([1, 1, 0, 0])
    scores = np.array([0.9, 0.4, 0.6, 0.1])

    # (positive, negative) pairs: (0.9, 0.6) win, (0.9, 0.1) win, (0.4, 0.6) loss, (0.4, 0.1) win -> 3/4.
    assert auc(labels, scores) == pytest.approx(0.75)
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


def test_auc_tie_counts_half():
    labels = np.array([1, 1, 0, 0])
    scores = np.array([0.7, 0.5, 0.5, 0.2])

    # Pairs: (0.7, 0.5) win, (0.7, 0.2) win, (0.5, 0.5) tie = 1/2, (0.5, 0.2) win -> 3.5/4.
    assert auc(labels, scores) == pytest.approx(0.875)


def test_auc_matches_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=300)
    scores = rng.integers(0, 20, size=300) / 20.0

    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auc_needs_both_classes():
    with pytest.raises(ValueError, match="got 2 positives among 2 rows"):
        auc(np.array([1, 1]), np.array([0.3, 0.6]))
    with pytest.raises(ValueError, match="only 0 and 1"):
        auc(np.array([1, 2]), np.array([0.3, 0.6]))


# ---------------------------------------------------------------------------
# logloss


def test_logloss_by_hand():
    # -(ln 0.8 + ln(1 - 0.4)) / 2 = (0.2231435513 + 0.5108256238) / 2 = 0.3669845875.
    assert logloss(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx(0.3669845875, rel=1e-9)


def test_logloss_clips_at_eps():
    # A certain wrong prediction is clipped to eps = 1e-7: -ln(1e-7) = 16.1180956510.
    assert logloss(np.array([1]), np.array([0.0])) == pytest.approx(16.1180956510, rel=1e-9)
    # A certain right prediction is clipped to 1 - 1e-7: -ln(1 - 1e-7) = 1.0000000495e-07.
    assert logloss(np.array([1]), np.array([1.0])) == pytest.approx(1.0000000495e-07, rel=1e-6)


def test_logloss_rejects_bad_probabilities():
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\], got 1.5"):
        logloss(np.array([1, 0]), np.array([1.5, 0.2]))
    with pytest.raises(ValueError, match="at least one row"):
        logloss(np.array([], dtype=np.int64), np.array([]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        logloss(np.array([1]), np.array([np.nan]))


# ---------------------------------------------------------------------------
# ctr_labels


def test_ctr_labels_strictly_above_threshold():
    labels = ctr_labels(np.array([1.0, 3.0, 3.5, 4.0, 5.0]))

    assert labels.tolist() == [0, 0, 1, 1, 1]
    assert labels.dtype == np.int8
    assert ctr_labels(np.array([3.0, 4.0]), threshold=3.5).tolist() == [0, 1]


# ---------------------------------------------------------------------------
# ctr_metrics

CTR_LABELS = np.array([1, 0, 1, 0, 1, 1])
CTR_PROBABILITIES = np.array([0.9, 0.2, 0.6, 0.7, 0.8, 0.3])
CTR_GROUPS = np.array([0, 0, 1, 1, 2, 2])


def test_ctr_metrics_per_group(caplog):
    with caplog.at_level(logging.WARNING, logger="graphrec.eval.ctr"):
        results = ctr_metrics(CTR_LABELS, CTR_PROBABILITIES, CTR_GROUPS, ["a", "b", "c"])

    assert list(results) == ["all", "a", "b", "c"]

    # Positives score 0.9, 0.6, 0.8, 0.3 and negatives 0.2, 0.7. Of the 8 pairs,
    # only (0.6, 0.7) and (0.3, 0.7) are lost -> 6/8.
    # Log loss: (ln terms of 0.9, 0.8, 0.6, 0.3, 0.8, 0.3) = 3.4704188507 / 6 = 0.5784031418.
    assert results["all"]["auc"] == pytest.approx(0.75)
    assert results["all"]["logloss"] == pytest.approx(0.5784031418, rel=1e-9)
    assert results["all"]["count"] == 6

    # Group a: positive 0.9 above negative 0.2 -> AUC 1. Log loss (-ln 0.9 - ln 0.8) / 2 = 0.1642520335.
    assert results["a"]["auc"] == pytest.approx(1.0)
    assert results["a"]["logloss"] == pytest.approx(0.1642520335, rel=1e-9)

    # Group b: positive 0.6 below negative 0.7 -> AUC 0. Log loss (-ln 0.6 - ln 0.3) / 2 = 0.8573992140.
    assert results["b"]["auc"] == pytest.approx(0.0)
    assert results["b"]["logloss"] == pytest.approx(0.8573992140, rel=1e-9)

    # Group c has two positives and no negative, so AUC is NaN. Log loss (-ln 0.8 - ln 0.3) / 2 = 0.7135581778.
    assert math.isnan(results["c"]["auc"])
    assert results["c"]["logloss"] == pytest.approx(0.7135581778, rel=1e-9)
    assert results["c"]["count"] == 2
    assert any("group 'c' has only positive labels" in record.getMessage() for record in caplog.records)


def test_ctr_metrics_without_names_uses_codes():
    results = ctr_metrics(CTR_LABELS, CTR_PROBABILITIES, CTR_GROUPS)

    assert list(results) == ["all", 0, 1, 2]


def test_ctr_metrics_overall_only():
    results = ctr_metrics(CTR_LABELS, CTR_PROBABILITIES)

    assert list(results) == ["all"]
    assert results["all"]["auc"] == pytest.approx(0.75)


def test_ctr_metrics_empty_named_group(caplog):
    with caplog.at_level(logging.WARNING, logger="graphrec.eval.ctr"):
        results = ctr_metrics(CTR_LABELS, CTR_PROBABILITIES, CTR_GROUPS, ["a", "b", "c", "d"])

    assert math.isnan(results["d"]["auc"])
    assert math.isnan(results["d"]["logloss"])
    assert results["d"]["count"] == 0
    assert any("group 'd' has no rows" in record.getMessage() for record in caplog.records)


def test_rows_by_group_rejects_bad_groups():
    with pytest.raises(ValueError, match="reserved"):
        rows_by_group(2, np.array([0, 0]), ["all"])
    with pytest.raises(ValueError, match="group code 2 is outside \\[0, 2\\)"):
        rows_by_group(2, np.array([0, 2]), ["a", "b"])
    with pytest.raises(ValueError, match="length 3"):
        rows_by_group(3, np.array([0, 1]))
    with pytest.raises(ValueError, match="group_names needs groups"):
        rows_by_group(3, None, ["a"])


# ---------------------------------------------------------------------------
# rmse, mae and rating_metrics

TRUE_RATINGS = np.array([4.0, 2.0, 5.0, 3.0])
PREDICTED_RATINGS = np.array([3.5, 2.0, 3.0, 4.0])


def test_rmse_and_mae_by_hand():
    # Errors 0.5, 0, 2, -1. Squares 0.25 + 0 + 4 + 1 = 5.25, and sqrt(5.25 / 4) = 1.1456439237.
    assert rmse(TRUE_RATINGS, PREDICTED_RATINGS) == pytest.approx(1.1456439237, rel=1e-9)
    # Absolute errors (0.5 + 0 + 2 + 1) / 4 = 0.875.
    assert mae(TRUE_RATINGS, PREDICTED_RATINGS) == pytest.approx(0.875)


def test_rating_metrics_per_group():
    results = rating_metrics(TRUE_RATINGS, PREDICTED_RATINGS, np.array([0, 1, 0, 1]), ["x", "y"])

    assert list(results) == ["all", "x", "y"]
    assert results["all"]["rmse"] == pytest.approx(1.1456439237, rel=1e-9)
    # Group x has errors 0.5 and 2: sqrt((0.25 + 4) / 2) = sqrt(2.125) = 1.4577379737, MAE 2.5 / 2 = 1.25.
    assert results["x"]["rmse"] == pytest.approx(1.4577379737, rel=1e-9)
    assert results["x"]["mae"] == pytest.approx(1.25)
    # Group y has errors 0 and -1: sqrt(1 / 2) = 0.7071067812, MAE 0.5.
    assert results["y"]["rmse"] == pytest.approx(0.7071067812, rel=1e-9)
    assert results["y"]["mae"] == pytest.approx(0.5)
    assert results["y"]["count"] == 2


def test_rating_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="same length"):
        rmse(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="at least one rating"):
        mae(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="predicted ratings contain 1 NaN"):
        rating_metrics(np.array([1.0]), np.array([np.nan]))
