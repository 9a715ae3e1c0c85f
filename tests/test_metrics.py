"""Tests for graphrec.eval.metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graphrec.eval.metrics import (
    METRICS,
    compute_topk_metrics,
    f1_at_k,
    hit_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

# Four users, K_max = 4:
#   user 0: hits at ranks 1 and 3, n_pos = 2
#   user 1: hit at rank 3 only, n_pos = 1 (fewer positives than k)
#   user 2: no hit, n_pos = 3
#   user 3: hit at rank 4 only (the last position), n_pos = 5 (more positives than k)
HITS = np.array(
    [
        [True, False, True, False],
        [False, False, True, False],
        [False, False, False, False],
        [False, False, False, True],
    ]
)
N_POS = np.array([2, 1, 3, 5])

LOG2_3 = math.log2(3)
LOG2_5 = math.log2(5)


def test_recall_at_3():
    expected = [
        2 / 2,  # user 0: 2 hits / n_pos 2
        1 / 1,  # user 1: 1 hit / n_pos 1
        0.0,  # user 2: no hit
        0 / 5,  # user 3: its hit is at rank 4, outside the top 3
    ]
    assert recall_at_k(HITS, N_POS, 3) == pytest.approx(expected)


def test_recall_at_4():
    expected = [2 / 2, 1 / 1, 0.0, 1 / 5]  # user 3: 1 hit / n_pos 5
    assert recall_at_k(HITS, N_POS, 4) == pytest.approx(expected)


def test_precision_at_3():
    expected = [2 / 3, 1 / 3, 0.0, 0 / 3]
    assert precision_at_k(HITS, N_POS, 3) == pytest.approx(expected)


def test_precision_at_4():
    expected = [2 / 4, 1 / 4, 0.0, 1 / 4]
    assert precision_at_k(HITS, N_POS, 4) == pytest.approx(expected)


def test_hit_at_3_and_4():
    assert hit_at_k(HITS, N_POS, 3) == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert hit_at_k(HITS, N_POS, 4) == pytest.approx([1.0, 1.0, 0.0, 1.0])


def test_hit_at_1():
    assert hit_at_k(HITS, N_POS, 1) == pytest.approx([1.0, 0.0, 0.0, 0.0])


def test_mrr_at_3():
    expected = [
        1 / 1,  # user 0: first hit at rank 1
        1 / 3,  # user 1: first hit at rank 3
        0.0,  # user 2: no hit
        0.0,  # user 3: first hit at rank 4 > k
    ]
    assert mrr_at_k(HITS, N_POS, 3) == pytest.approx(expected)


def test_mrr_at_4():
    expected = [1 / 1, 1 / 3, 0.0, 1 / 4]
    assert mrr_at_k(HITS, N_POS, 4) == pytest.approx(expected)


def test_ndcg_at_3():
    expected = [
        # user 0: DCG over hit ranks 1 and 3, IDCG over min(2, 3) = 2 ranks
        (1 / math.log2(2) + 1 / math.log2(4)) / (1 / math.log2(2) + 1 / LOG2_3),
        # user 1: DCG at hit rank 3, IDCG over min(1, 3) = 1 rank
        (1 / math.log2(4)) / (1 / math.log2(2)),
        0.0,
        0.0,
    ]
    assert ndcg_at_k(HITS, N_POS, 3) == pytest.approx(expected)
    assert expected[0] == pytest.approx(1.5 / (1 + 1 / LOG2_3))
    assert expected[1] == pytest.approx(0.5)


def test_ndcg_at_4():
    expected = [
        (1 / math.log2(2) + 1 / math.log2(4)) / (1 / math.log2(2) + 1 / LOG2_3),
        (1 / math.log2(4)) / (1 / math.log2(2)),
        0.0,
        # user 3: DCG at hit rank 4, IDCG over min(5, 4) = 4 ranks
        (1 / LOG2_5) / (1 / math.log2(2) + 1 / LOG2_3 + 1 / math.log2(4) + 1 / LOG2_5),
    ]
    assert ndcg_at_k(HITS, N_POS, 4) == pytest.approx(expected)


def test_ndcg_perfect_ranking_is_one():
    hits = np.array([[True, True, False], [True, False, False]])
    n_pos = np.array([2, 1])
    assert ndcg_at_k(hits, n_pos, 3) == pytest.approx([1.0, 1.0])


def test_map_at_3():
    expected = [
        # user 0: (precision@1 + precision@3) / min(2, 3) = (1/1 + 2/3) / 2
        (1 / 1 + 2 / 3) / 2,
        # user 1: precision@3 / min(1, 3) = (1/3) / 1
        (1 / 3) / 1,
        0.0,
        0.0,
    ]
    assert map_at_k(HITS, N_POS, 3) == pytest.approx(expected)


def test_map_at_4():
    expected = [
        (1 / 1 + 2 / 3) / 2,
        (1 / 3) / 1,
        0.0,
        # user 3: precision@4 / min(5, 4) = (1/4) / 4
        (1 / 4) / 4,
    ]
    assert map_at_k(HITS, N_POS, 4) == pytest.approx(expected)


def test_f1_at_3():
    expected = [
        # user 0: precision 2/3, recall 1 -> 2 * (2/3) * 1 / (2/3 + 1)
        2 * (2 / 3) * 1 / (2 / 3 + 1),
        # user 1: precision 1/3, recall 1 -> 2 * (1/3) * 1 / (1/3 + 1)
        2 * (1 / 3) * 1 / (1 / 3 + 1),
        0.0,  # precision and recall both 0
        0.0,
    ]
    assert f1_at_k(HITS, N_POS, 3) == pytest.approx(expected)
    assert expected[0] == pytest.approx(0.8)
    assert expected[1] == pytest.approx(0.5)


def test_f1_at_4():
    expected = [
        2 * (2 / 4) * 1 / (2 / 4 + 1),  # 2/3
        2 * (1 / 4) * 1 / (1 / 4 + 1),  # 0.4
        0.0,
        2 * (1 / 4) * (1 / 5) / (1 / 4 + 1 / 5),  # 2/9
    ]
    assert f1_at_k(HITS, N_POS, 4) == pytest.approx(expected)


def test_metrics_registry_names():
    assert set(METRICS) == {"recall", "ndcg", "precision", "hit", "mrr", "map", "f1"}
    assert METRICS["ndcg"] is ndcg_at_k
    assert METRICS["map"] is map_at_k


def test_compute_topk_metrics_keys_and_values():
    results = compute_topk_metrics(HITS, N_POS, ks=(3, 4), metrics=("recall", "ndcg", "mrr"))

    assert list(results) == ["recall@3", "recall@4", "ndcg@3", "ndcg@4", "mrr@3", "mrr@4"]
    assert results["recall@4"] == pytest.approx(recall_at_k(HITS, N_POS, 4))
    assert results["ndcg@3"] == pytest.approx(ndcg_at_k(HITS, N_POS, 3))
    assert results["mrr@3"] == pytest.approx([1.0, 1 / 3, 0.0, 0.0])
    for values in results.values():
        assert values.shape == (4,)
        assert values.dtype == np.float64


def test_compute_topk_metrics_default_metrics():
    hits = np.zeros((2, 20), dtype=bool)
    hits[0, 0] = True
    results = compute_topk_metrics(hits, np.array([1, 2]))

    assert set(results) == {f"{name}@{k}" for name in ("recall", "ndcg", "precision", "hit", "mrr") for k in (10, 20)}
    assert results["recall@10"] == pytest.approx([1.0, 0.0])
    assert results["precision@20"] == pytest.approx([1 / 20, 0.0])


def test_metrics_accept_zero_one_ints():
    as_ints = HITS.astype(np.int64)
    assert ndcg_at_k(as_ints, N_POS, 4) == pytest.approx(ndcg_at_k(HITS, N_POS, 4))


def test_metrics_with_no_users():
    hits = np.zeros((0, 5), dtype=bool)
    results = compute_topk_metrics(hits, np.zeros(0, dtype=np.int64), ks=(5,), metrics=tuple(METRICS))
    for values in results.values():
        assert values.shape == (0,)


def _reference_ndcg_and_map(hits_row: np.ndarray, n_pos: int, k: int) -> tuple[float, float]:
    dcg = 0.0
    ap = 0.0
    found = 0
    for rank in range(1, k + 1):
        if hits_row[rank - 1]:
            found += 1
            dcg += 1 / math.log2(rank + 1)
            ap += found / rank
    idcg = sum(1 / math.log2(rank + 1) for rank in range(1, min(n_pos, k) + 1))
    return dcg / idcg, ap / min(n_pos, k)


def test_ndcg_and_map_match_loop_reference():
    rng = np.random.default_rng(0)
    hits = rng.random((200, 15)) < 0.3
    n_pos = hits.sum(axis=1) + rng.integers(1, 6, size=200)

    for k in (1, 5, 15):
        ndcg = ndcg_at_k(hits, n_pos, k)
        average_precision = map_at_k(hits, n_pos, k)
        for user in range(200):
            expected_ndcg, expected_map = _reference_ndcg_and_map(hits[user], int(n_pos[user]), k)
            assert ndcg[user] == pytest.approx(expected_ndcg)
            assert average_precision[user] == pytest.approx(expected_map)


@pytest.mark.parametrize("k", [0, 5, -1])
def test_k_out_of_range_raises(k):
    with pytest.raises(ValueError, match="k must be between 1 and hits.shape"):
        recall_at_k(HITS, N_POS, k)


def test_compute_with_k_above_k_max_raises():
    with pytest.raises(ValueError, match="got k=10"):
        compute_topk_metrics(HITS, N_POS, ks=(3, 10))


def test_n_pos_shape_mismatch_raises():
    with pytest.raises(ValueError, match="n_pos must have shape"):
        ndcg_at_k(HITS, np.array([1, 2, 3]), 3)


def test_hits_not_2d_raises():
    with pytest.raises(ValueError, match="2-D"):
        ndcg_at_k(np.array([True, False]), np.array([1]), 1)


def test_hits_with_other_values_raises():
    with pytest.raises(ValueError, match="only 0 and 1"):
        ndcg_at_k(np.array([[2, 0]]), np.array([1]), 1)


def test_non_positive_n_pos_names_user():
    with pytest.raises(ValueError, match="user index 2 has n_pos=0"):
        recall_at_k(HITS, np.array([2, 1, 0, 5]), 3)


def test_negative_n_pos_names_user():
    with pytest.raises(ValueError, match="user index 0 has n_pos=-1"):
        compute_topk_metrics(HITS, np.array([-1, 1, 1, 5]), ks=(3,))


def test_float_n_pos_raises():
    with pytest.raises(ValueError, match="integer array"):
        recall_at_k(HITS, N_POS.astype(float), 3)


def test_more_hits_than_n_pos_raises():
    with pytest.raises(ValueError, match="user index 0 has 2 hits but n_pos=1"):
        recall_at_k(HITS, np.array([1, 1, 3, 5]), 3)


def test_unknown_metric_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown metric name\(s\) \['auc'\]\. Valid names: \['f1', 'hit'"):
        compute_topk_metrics(HITS, N_POS, ks=(3,), metrics=("recall", "auc"))


def test_empty_metrics_raises():
    with pytest.raises(ValueError, match="at least one metric"):
        compute_topk_metrics(HITS, N_POS, ks=(3,), metrics=())


@pytest.mark.parametrize("ks", [(), (0,), (3, 2.5), (True,)])
def test_invalid_ks_raises(ks):
    with pytest.raises(ValueError, match="ks"):
        compute_topk_metrics(HITS, N_POS, ks=ks)
