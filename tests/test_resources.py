"""Tests for the memory budget (graphrec.resources) and how full-ranking evaluation applies it."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from helpers import tiny_dataset

from graphrec.data.split import TEST
from graphrec.errors import GraphrecError, ResourceError
from graphrec.eval.evaluator import evaluate_model
from graphrec.eval.ranking import evaluate_full_ranking, full_ranking_bytes_per_user
from graphrec.models.pop import Pop
from graphrec.resources import (
    BUDGET_ADVICE,
    DEFAULT_MEMORY_BUDGET,
    DEFAULT_MEMORY_BUDGET_MB,
    MemoryBudget,
    dense_matrix_bytes,
)

ALL_METRICS = ("recall", "ndcg", "precision", "hit", "mrr", "map", "f1")
ADVICE = "set protocol.memory_budget_mb in the config or pass --memory-budget-mb"

# 10 items and k = 5, counted by hand: float32 scores 4 * 10, float32 masked copy
# 4 * 10, bool truth row 10, int64 top-k indices 8 * 5, float32 top-k values 4 * 5.
BYTES_PER_USER_10_ITEMS_K5 = 40 + 40 + 10 + 40 + 20


def _random_problem(seed: int, n_users: int = 40, n_items: int = 25):
    rng = np.random.default_rng(seed)
    scores = rng.random((n_users, n_items)).astype(np.float32)
    exclude = sp.csr_matrix(rng.random((n_users, n_items)) < 0.3)
    truth = sp.csr_matrix((rng.random((n_users, n_items)) < 0.2) & ~exclude.toarray())
    return scores, exclude, truth


class RecordingScores:
    """A score_fn over a fixed table that records the size of every batch it gets."""

    def __init__(self, scores: np.ndarray):
        self.scores = scores
        self.batch_sizes: list[int] = []

    def __call__(self, users: np.ndarray) -> torch.Tensor:
        self.batch_sizes.append(len(users))
        return torch.from_numpy(self.scores[users])


class RecordingPop(Pop):
    """Pop that records the size of every scoring batch."""

    def __init__(self, dataset):
        super().__init__(dataset, graph=None)
        self.batch_sizes: list[int] = []

    def score(self, users, scenario=None):
        self.batch_sizes.append(len(users))
        return super().score(users, scenario)


def test_default_budget_is_2048_mb():
    assert DEFAULT_MEMORY_BUDGET_MB == 2048
    assert DEFAULT_MEMORY_BUDGET.max_bytes == 2048 * 2**20
    assert DEFAULT_MEMORY_BUDGET.megabytes == 2048.0


def test_from_mb_converts_to_bytes():
    assert MemoryBudget.from_mb(2).max_bytes == 2 * 1024 * 1024
    assert MemoryBudget.from_mb(0.5).max_bytes == 512 * 1024
    assert MemoryBudget.from_mb(1.5).megabytes == 1.5


@pytest.mark.parametrize("megabytes", [0, -1, math.nan, math.inf, True, "2", 1e-9])
def test_from_mb_invalid_raises(megabytes):
    with pytest.raises(ValueError, match="memory budget"):
        MemoryBudget.from_mb(megabytes)


@pytest.mark.parametrize("max_bytes", [0, -5, 2.5, True])
def test_budget_invalid_bytes_raises(max_bytes):
    with pytest.raises(ValueError, match="max_bytes must be a positive int"):
        MemoryBudget(max_bytes)


def test_dense_matrix_bytes_by_dtype():
    assert dense_matrix_bytes(3, 5, np.float32) == 60
    assert dense_matrix_bytes(3, 5, torch.float32) == 60
    assert dense_matrix_bytes(3, 5, "int64") == 120
    assert dense_matrix_bytes(3, 5, torch.bool) == 15
    assert dense_matrix_bytes(0, 5, np.float64) == 0


def test_dense_matrix_bytes_no_overflow():
    # 2**40 * 2**30 * 8 = 2**73 overflows int64, but the size is a Python int.
    assert dense_matrix_bytes(np.int64(2**40), np.int64(2**30), np.float64) == 2**73


def test_dense_matrix_bytes_negative_raises():
    with pytest.raises(ValueError, match="n_cols must be a non-negative int"):
        dense_matrix_bytes(3, -1, np.float32)


def test_check_within_budget_passes():
    budget = MemoryBudget(1000)

    budget.check(0, "nothing")
    budget.check(1000, "exactly the budget")


def test_check_over_budget_message():
    budget = MemoryBudget.from_mb(1)

    with pytest.raises(ResourceError) as raised:
        budget.check(3 * 2**20, "test block")

    message = str(raised.value)
    assert "test block" in message
    assert "3.0 MB (3,145,728 bytes)" in message
    assert "memory budget of 1.0 MB (1,048,576 bytes)" in message
    assert ADVICE in message


def test_check_one_byte_over_raises():
    with pytest.raises(ResourceError, match="1,001 bytes"):
        MemoryBudget(1000).check(1001, "block")


def test_resource_error_is_graphrec_error():
    # The CLI reports every GraphrecError as a message instead of a traceback.
    assert issubclass(ResourceError, GraphrecError)


def test_budget_advice_names_both_settings():
    assert BUDGET_ADVICE == f"To change the budget, {ADVICE}."


def test_dense_users_by_items_matrix_rejected():
    # 2,000,000 users * 500,000 items * 4 bytes = 4e12 bytes = 3,814,697.27 MB.
    nbytes = dense_matrix_bytes(2_000_000, 500_000, np.float32)
    assert nbytes == 4_000_000_000_000

    with pytest.raises(ResourceError) as raised:
        DEFAULT_MEMORY_BUDGET.check(nbytes, "a dense users-by-items score matrix")

    message = str(raised.value)
    assert "a dense users-by-items score matrix" in message
    assert "3,814,697.3 MB" in message
    assert "2,048.0 MB" in message
    assert ADVICE in message


def test_bytes_per_user_by_hand():
    assert full_ranking_bytes_per_user(10, 5) == BYTES_PER_USER_10_ITEMS_K5
    assert full_ranking_bytes_per_user(10, 5) == 150
    assert full_ranking_bytes_per_user(1, 1) == 9 + 12


@pytest.mark.parametrize(
    ("max_bytes", "requested", "expected"),
    [
        (1000, 1024, 6),  # floor(1000 / 150)
        (150, 1024, 1),  # exactly one row
        (299, 1024, 1),
        (300, 1024, 2),
        (1000, 4, 4),  # the requested size already fits
        (10**9, 1024, 1024),
    ],
)
def test_batch_size_for_floor(max_bytes, requested, expected):
    assert MemoryBudget(max_bytes).batch_size_for(150, requested) == expected


def test_batch_size_for_row_too_large_raises():
    with pytest.raises(ResourceError) as raised:
        MemoryBudget(149).batch_size_for(150, 1024, what="one test row")

    message = str(raised.value)
    assert "one test row" in message
    assert "(150 bytes)" in message
    assert "(149 bytes)" in message
    assert ADVICE in message


@pytest.mark.parametrize(("bytes_per_row", "requested"), [(0, 10), (150, 0), (150, 2.0)])
def test_batch_size_for_invalid_arguments_raise(bytes_per_row, requested):
    with pytest.raises(ValueError, match="must be a positive int"):
        MemoryBudget(1000).batch_size_for(bytes_per_row, requested)


def test_full_ranking_budget_below_one_row_raises():
    scores, exclude, truth = _random_problem(seed=3)
    # 25 items and k = 10: 9 * 25 + 12 * 10 = 345 bytes per user.
    budget = MemoryBudget(344)

    with pytest.raises(ResourceError) as raised:
        evaluate_full_ranking(
            RecordingScores(scores), np.arange(40), exclude, truth, ks=(5, 10), memory_budget=budget
        )

    message = str(raised.value)
    assert "full ranking of one user over 25 items" in message
    assert "(345 bytes)" in message
    assert ADVICE in message


def test_full_ranking_budget_sets_batch_size():
    scores, exclude, truth = _random_problem(seed=4, n_users=10, n_items=10)
    truth = sp.csr_matrix(np.ones((10, 10), dtype=bool) & ~exclude.toarray())
    score_fn = RecordingScores(scores)
    # Three rows of 150 bytes fit in 599 bytes, four do not.
    budget = MemoryBudget(3 * BYTES_PER_USER_10_ITEMS_K5 + 149)

    results = evaluate_full_ranking(score_fn, np.arange(10), exclude, truth, ks=(5,), memory_budget=budget)

    assert len(results["users"]) == 10
    assert score_fn.batch_sizes == [3, 3, 3, 1]


def test_budget_caps_k_at_n_items():
    # 4 items and ks=(10,): only 4 ranks are kept, so a user needs 9 * 4 + 12 * 4 = 84 bytes.
    scores = np.random.default_rng(5).random((6, 4)).astype(np.float32)
    truth = sp.csr_matrix(np.eye(6, 4, dtype=bool))
    exclude = sp.csr_matrix((6, 4), dtype=bool)
    score_fn = RecordingScores(scores)

    evaluate_full_ranking(score_fn, np.arange(6), exclude, truth, ks=(10,), memory_budget=MemoryBudget(2 * 84))

    assert score_fn.batch_sizes == [2, 2]


@pytest.mark.parametrize("users_per_batch", [1, 2])
def test_shrunk_batches_match_unconstrained(users_per_batch):
    scores, exclude, truth = _random_problem(seed=6)
    users = np.arange(40)
    candidates = np.arange(25) % 3 != 0
    bytes_per_user = full_ranking_bytes_per_user(25, 10)
    small_budget = MemoryBudget(users_per_batch * bytes_per_user)
    large_budget = MemoryBudget.from_mb(64)

    for candidate_items in (None, candidates):
        small_fn = RecordingScores(scores)
        large_fn = RecordingScores(scores)
        small = evaluate_full_ranking(
            small_fn,
            users,
            exclude,
            truth,
            ks=(5, 10),
            metrics=ALL_METRICS,
            candidate_items=candidate_items,
            memory_budget=small_budget,
        )
        large = evaluate_full_ranking(
            large_fn,
            users,
            exclude,
            truth,
            ks=(5, 10),
            metrics=ALL_METRICS,
            candidate_items=candidate_items,
            memory_budget=large_budget,
        )

        assert max(small_fn.batch_sizes) == users_per_batch
        assert len(large_fn.batch_sizes) == 1
        assert small.keys() == large.keys()
        np.testing.assert_array_equal(small["users"], large["users"])
        for key in small:
            assert small[key] == pytest.approx(large[key]), key


def test_shrink_logged_at_info(caplog):
    scores, exclude, truth = _random_problem(seed=7)
    budget = MemoryBudget(4 * full_ranking_bytes_per_user(25, 10))

    with caplog.at_level(logging.INFO, logger="graphrec.eval.ranking"):
        evaluate_full_ranking(
            RecordingScores(scores), np.arange(40), exclude, truth, ks=(10,), batch_size=16, memory_budget=budget
        )

    shrink_messages = [record.getMessage() for record in caplog.records if "batch size reduced" in record.getMessage()]
    assert len(shrink_messages) == 1
    assert "from 16 to 4 users" in shrink_messages[0]
    assert "345 bytes per user" in shrink_messages[0]


def test_no_shrink_no_log(caplog):
    scores, exclude, truth = _random_problem(seed=8)

    with caplog.at_level(logging.INFO, logger="graphrec.eval.ranking"):
        evaluate_full_ranking(RecordingScores(scores), np.arange(40), exclude, truth, ks=(10,), batch_size=16)

    assert not any("batch size reduced" in record.getMessage() for record in caplog.records)


def test_full_ranking_rejects_budget_of_wrong_type():
    scores, exclude, truth = _random_problem(seed=9)

    with pytest.raises(TypeError, match="memory_budget must be a MemoryBudget"):
        evaluate_full_ranking(RecordingScores(scores), np.arange(40), exclude, truth, memory_budget=2048)


def test_evaluate_model_passes_budget():
    dataset = tiny_dataset()
    model = RecordingPop(dataset)
    model.fit(dataset)
    # 8 items and k = 5: 9 * 8 + 12 * 5 = 132 bytes per user, so 264 bytes fit two users.
    budget = MemoryBudget(2 * 132)

    constrained = evaluate_model(model, dataset, TEST, ks=(1, 5), memory_budget=budget)
    assert model.batch_sizes
    assert max(model.batch_sizes) == 2

    unconstrained = evaluate_model(model, dataset, TEST, ks=(1, 5))
    assert constrained.per_user.keys() == unconstrained.per_user.keys()
    for scenario, values in constrained.per_user.items():
        for key in values:
            assert values[key] == pytest.approx(unconstrained.per_user[scenario][key]), (scenario, key)


def test_evaluate_model_budget_too_small_raises():
    dataset = tiny_dataset()
    model = RecordingPop(dataset)
    model.fit(dataset)
    model.train()

    with pytest.raises(ResourceError, match="over 8 items"):
        evaluate_model(model, dataset, TEST, ks=(1, 5), memory_budget=MemoryBudget(131))

    assert model.training
