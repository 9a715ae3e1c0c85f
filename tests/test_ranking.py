"""Tests for graphrec.eval.ranking on small score matrices with a known order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.eval.metrics import compute_topk_metrics
from graphrec.eval.ranking import evaluate_full_ranking, rank_topk, topk_valid_mask

ALL_METRICS = ("recall", "ndcg", "precision", "hit", "mrr", "map", "f1")

# Three users, six items. Item order by score, best first:
#   user 0: 0, 2, 4, 3, 5, 1
#   user 1: 5, 4, 3, 2, 1, 0
#   user 2: 1, 0, 3, 2, 5, 4
SCORES = np.array(
    [
        [0.9, 0.1, 0.8, 0.3, 0.7, 0.2],
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        [0.5, 0.6, 0.2, 0.3, 0.0, 0.1],
    ],
    dtype=np.float32,
)


def score_rows(users: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(SCORES[users])


def csr(rows: list[list[int]], n_items: int = 6) -> sp.csr_matrix:
    matrix = np.zeros((len(rows), n_items), dtype=np.float32)
    for user, items in enumerate(rows):
        matrix[user, items] = 1.0
    return sp.csr_matrix(matrix)


def test_rank_topk_known_order():
    top = rank_topk(torch.from_numpy(SCORES), 3)

    assert top.tolist() == [[0, 2, 4], [5, 4, 3], [1, 0, 3]]


def test_rank_topk_k_above_n_items_raises():
    with pytest.raises(ValueError, match="between 1 and the number of items 6"):
        rank_topk(torch.from_numpy(SCORES), 7)


def test_topk_valid_mask_flags_masked_items():
    scores = torch.tensor([[0.5, float("-inf"), 0.1, float("-inf")]])
    top = rank_topk(scores, 3)

    assert top[0, :2].tolist() == [0, 2]
    assert topk_valid_mask(scores, top).tolist() == [[True, True, False]]


def test_full_ranking_known_order():
    # User 0 excludes item 0, so its ranking is 2, 4, 3, 5, 1 and its positives 4 and 1
    # sit at ranks 2 and 5. User 1 (ranking 5, 4, 3, ...) has its one positive 5 at rank 1.
    exclude = csr([[0], [], []])
    truth = csr([[4, 1], [5], [2]])
    results = evaluate_full_ranking(
        score_rows, np.array([0, 1]), exclude, truth, ks=(1, 2, 3), metrics=ALL_METRICS
    )

    assert results["users"].tolist() == [0, 1]
    assert results["users"].dtype == np.int64
    assert results["hit@1"] == pytest.approx([0.0, 1.0])
    assert results["recall@2"] == pytest.approx([1 / 2, 1 / 1])
    assert results["precision@3"] == pytest.approx([1 / 3, 1 / 3])
    assert results["mrr@3"] == pytest.approx([1 / 2, 1 / 1])
    # User 0: DCG at rank 2 over IDCG of min(2, 2) = 2 ranks. User 1 is ranked perfectly.
    assert results["ndcg@2"] == pytest.approx([(1 / math.log2(3)) / (1 + 1 / math.log2(3)), 1.0])
    # user 0: precision@2 / min(2, 3) = (1/2) / 2
    assert results["map@3"] == pytest.approx([(1 / 2) / 2, 1.0])
    # user 0: precision 1/3, recall 1/2 -> 2 * (1/3) * (1/2) / (1/3 + 1/2) = 0.4
    assert results["f1@3"] == pytest.approx([0.4, 2 * (1 / 3) * 1 / (1 / 3 + 1)])
    assert set(results) == {"users"} | {f"{name}@{k}" for name in ALL_METRICS for k in (1, 2, 3)}


def test_excluded_top_item_is_never_ranked():
    # Item 0 has user 0's highest score. Excluding it moves item 2 (the positive) to rank 1.
    truth = csr([[2], [], []])
    with_exclude = evaluate_full_ranking(score_rows, np.array([0]), csr([[0], [], []]), truth, ks=(1, 2))
    without_exclude = evaluate_full_ranking(score_rows, np.array([0]), csr([[], [], []]), truth, ks=(1, 2))

    assert with_exclude["mrr@2"] == pytest.approx([1.0])
    assert with_exclude["hit@1"] == pytest.approx([1.0])
    assert without_exclude["mrr@2"] == pytest.approx([1 / 2])
    assert without_exclude["hit@1"] == pytest.approx([0.0])


def test_excluded_positive_never_counts_as_hit():
    # Item 0 is both user 0's best-scored item and a positive, but it is excluded.
    # Its other positive, item 1, has the lowest score and rank 5 after exclusion.
    exclude = csr([[0], [], []])
    truth = csr([[0, 1], [], []])
    results = evaluate_full_ranking(score_rows, np.array([0]), exclude, truth, ks=(1, 4))

    assert results["hit@4"] == pytest.approx([0.0])
    assert results["recall@4"] == pytest.approx([0 / 2])


def test_user_without_positives_is_skipped():
    truth = csr([[4], [], [1]])
    results = evaluate_full_ranking(score_rows, np.array([0, 1, 2]), csr([[], [], []]), truth, ks=(1, 3))

    assert results["users"].tolist() == [0, 2]
    # user 0 ranks item 4 at 3, user 2 ranks item 1 at 1
    assert results["mrr@3"] == pytest.approx([1 / 3, 1.0])
    assert results["recall@1"].shape == (2,)


def test_user_order_follows_input():
    truth = csr([[4], [5], [1]])
    results = evaluate_full_ranking(score_rows, np.array([2, 0]), csr([[], [], []]), truth, ks=(3,))

    assert results["users"].tolist() == [2, 0]
    assert results["mrr@3"] == pytest.approx([1.0, 1 / 3])


def test_no_evaluable_users_returns_empty_arrays():
    truth = csr([[], [], []])
    results = evaluate_full_ranking(score_rows, np.array([0, 1]), csr([[], [], []]), truth, ks=(2,))

    assert results["users"].shape == (0,)
    assert results["ndcg@2"].shape == (0,)


@pytest.mark.parametrize(
    "candidates",
    [np.array([1, 3, 4, 5]), np.array([False, True, False, True, True, True])],
    ids=["index_array", "bool_mask"],
)
def test_candidate_items_restrict_ranking_and_truth(candidates):
    # Candidates {1, 3, 4, 5}. User 0 excludes item 0 and ranks 4, 3, 5, 1.
    # User 0's positive 2 lies outside the candidates, so only positive 1 counts (n_pos = 1).
    # User 1's only positive, item 0, lies outside the candidates, so user 1 is skipped.
    # User 2 ranks 1, 3, 5, 4 and its positive 3 sits at rank 2.
    exclude = csr([[0], [], []])
    truth = csr([[2, 1], [0], [3]])
    results = evaluate_full_ranking(
        score_rows, np.array([0, 1, 2]), exclude, truth, ks=(2, 4), candidate_items=candidates
    )

    assert results["users"].tolist() == [0, 2]
    assert results["mrr@4"] == pytest.approx([1 / 4, 1 / 2])
    assert results["recall@4"] == pytest.approx([1 / 1, 1 / 1])
    assert results["hit@2"] == pytest.approx([0.0, 1.0])


def test_candidate_outside_items_never_ranked():
    # Without the restriction, user 1 would rank item 5 first. Candidates {0, 1} put item 1 first.
    truth = csr([[], [1], []])
    results = evaluate_full_ranking(
        score_rows, np.array([1]), csr([[], [], []]), truth, ks=(1,), candidate_items=np.array([0, 1])
    )

    assert results["hit@1"] == pytest.approx([1.0])


def test_masked_padding_never_hits():
    # User 0 excludes 0, 1, 2 of four items, and all four are positives.
    # Only item 3 is ranked, so the top 3 contains one hit and two masked positions.
    scores = np.array([[0.9, 0.8, 0.7, 0.1]], dtype=np.float32)
    exclude = csr([[0, 1, 2]], n_items=4)
    truth = csr([[0, 1, 2, 3]], n_items=4)
    results = evaluate_full_ranking(
        lambda users: torch.from_numpy(scores[users]), np.array([0]), exclude, truth, ks=(3,), metrics=ALL_METRICS
    )

    assert results["precision@3"] == pytest.approx([1 / 3])
    assert results["recall@3"] == pytest.approx([1 / 4])
    # DCG at rank 1 over IDCG of min(4, 3) = 3 ranks
    assert results["ndcg@3"] == pytest.approx([1 / (1 + 1 / math.log2(3) + 1 / math.log2(4))])


def test_k_above_n_items_pads_with_misses():
    # Four items, k = 5: rank 5 is empty. User 0 ranks 0, 1, 2, 3, and positive 3 is at rank 4.
    scores = np.array([[0.9, 0.8, 0.7, 0.1]], dtype=np.float32)
    truth = csr([[3]], n_items=4)
    results = evaluate_full_ranking(
        lambda users: torch.from_numpy(scores[users]), np.array([0]), csr([[]], n_items=4), truth, ks=(2, 5)
    )

    assert results["precision@5"] == pytest.approx([1 / 5])
    assert results["mrr@5"] == pytest.approx([1 / 4])
    assert results["hit@2"] == pytest.approx([0.0])


def _random_problem(seed: int, n_users: int = 40, n_items: int = 25):
    rng = np.random.default_rng(seed)
    scores = rng.random((n_users, n_items)).astype(np.float32)
    exclude = sp.csr_matrix(rng.random((n_users, n_items)) < 0.3)
    truth = sp.csr_matrix((rng.random((n_users, n_items)) < 0.2) & ~exclude.toarray())
    return scores, exclude, truth


def test_batch_size_one_matches_default():
    scores, exclude, truth = _random_problem(seed=1)
    users = np.arange(40)
    candidates = np.arange(25) % 3 != 0

    def score_fn(batch: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(scores[batch])

    small = evaluate_full_ranking(score_fn, users, exclude, truth, ks=(5, 10), metrics=ALL_METRICS, batch_size=1)
    large = evaluate_full_ranking(score_fn, users, exclude, truth, ks=(5, 10), metrics=ALL_METRICS, batch_size=1024)
    restricted = evaluate_full_ranking(
        score_fn, users, exclude, truth, ks=(5, 10), batch_size=7, candidate_items=candidates
    )
    restricted_single = evaluate_full_ranking(
        score_fn, users, exclude, truth, ks=(5, 10), batch_size=1, candidate_items=candidates
    )

    assert small.keys() == large.keys()
    for key in small:
        assert small[key] == pytest.approx(large[key]), key
    for key in restricted:
        assert restricted[key] == pytest.approx(restricted_single[key]), key


def test_matches_sort_reference():
    scores, exclude, truth = _random_problem(seed=2)
    users = np.arange(40)
    results = evaluate_full_ranking(
        lambda batch: torch.from_numpy(scores[batch]), users, exclude, truth, ks=(3, 10), metrics=ALL_METRICS, batch_size=16
    )

    # Reference: sort every user's unexcluded items by score with NumPy.
    kept_users = []
    hits_rows = []
    n_pos = []
    for user in users:
        positives = set(truth[user].indices.tolist())
        if not positives:
            continue
        allowed = np.flatnonzero(exclude[user].toarray()[0] == 0)
        ranked = allowed[np.argsort(-scores[user, allowed], kind="stable")][:10]
        row = np.zeros(10, dtype=bool)
        row[: len(ranked)] = [item in positives for item in ranked]
        kept_users.append(user)
        hits_rows.append(row)
        n_pos.append(len(positives))
    expected = compute_topk_metrics(np.array(hits_rows), np.array(n_pos), ks=(3, 10), metrics=ALL_METRICS)

    assert results["users"].tolist() == kept_users
    for key, values in expected.items():
        assert results[key] == pytest.approx(values), key


def test_progress_bar_runs():
    truth = csr([[4], [5], [1]])
    results = evaluate_full_ranking(
        score_rows, np.array([0, 1, 2]), csr([[], [], []]), truth, ks=(1,), batch_size=2, progress=True
    )

    assert results["hit@1"] == pytest.approx([0.0, 1.0, 1.0])


def test_score_fn_wrong_shape_raises():
    truth = csr([[4], [], []])
    with pytest.raises(ValueError, match=r"expected \[batch, n_items\] = \(1, 6\)"):
        evaluate_full_ranking(lambda users: torch.zeros(1, 5), np.array([0]), csr([[], [], []]), truth)


def test_score_fn_nan_raises():
    truth = csr([[4], [], []])
    with pytest.raises(ValueError, match="NaN scores for user 0"):
        evaluate_full_ranking(
            lambda users: torch.full((1, 6), float("nan")), np.array([0]), csr([[], [], []]), truth, ks=(2,)
        )


def test_shape_mismatch_between_exclude_and_truth_raises():
    with pytest.raises(ValueError, match="same shape"):
        evaluate_full_ranking(score_rows, np.array([0]), csr([[], []]), csr([[4], [], []]))


def test_user_out_of_range_raises():
    with pytest.raises(ValueError, match="user id 3 is outside"):
        evaluate_full_ranking(score_rows, np.array([0, 3]), csr([[], [], []]), csr([[4], [], []]))


def test_unknown_metric_raises():
    with pytest.raises(ValueError, match="Valid names"):
        evaluate_full_ranking(score_rows, np.array([0]), csr([[], [], []]), csr([[4], [], []]), metrics=("auc",))


def test_candidate_mask_wrong_length_raises():
    with pytest.raises(ValueError, match="length n_items = 6"):
        evaluate_full_ranking(
            score_rows, np.array([0]), csr([[], [], []]), csr([[4], [], []]), candidate_items=np.ones(5, dtype=bool)
        )


def test_candidate_index_out_of_range_raises():
    with pytest.raises(ValueError, match="candidate item index 6"):
        evaluate_full_ranking(
            score_rows, np.array([0]), csr([[], [], []]), csr([[4], [], []]), candidate_items=np.array([1, 6])
        )


def test_invalid_batch_size_raises():
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_full_ranking(score_rows, np.array([0]), csr([[], [], []]), csr([[4], [], []]), batch_size=0)


def test_coverage_from_full_ranking():
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.0], [0.1, 0.0, 0.9, 0.8]])
    # Item 0 is a training item of user 0, so user 0 ranks 1, 2, 3, 0 and user 1 ranks 2, 3, 0, 1.
    exclude = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    truth = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 1, 0]], dtype=np.float32))

    result = evaluate_full_ranking(
        lambda users: scores[torch.as_tensor(users)], np.array([0, 1]), exclude, truth,
        ks=(1, 2), metrics=("hit", "coverage"),
    )

    # Top 1: items {1, 2} -> 2 of 4. Top 2: items {1, 2, 3} -> 3 of 4.
    assert result["coverage@1"].tolist() == [0.5]
    assert result["coverage@2"].tolist() == [0.75]
    assert result["hit@1"].tolist() == [1.0, 1.0]
