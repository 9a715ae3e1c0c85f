"""Tests for the itemknn, userknn, ease, ials and tfidf-content baselines.

Most expectations are worked out by hand on the four-user, five-item table
GRID below, or come from a direct NumPy computation that takes another route
than the model code (dense loops, per-item ridge regressions, explicit
TF-IDF formulas).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import tiny_dataset

from graphrec.data.dataset import RecDataset, build_dataset
from graphrec.data.scenarios import assign_scenarios
from graphrec.data.split import TEST, TRAIN, VALID
from graphrec.data.tables import RawData
from graphrec.errors import ConfigError, DataError
from graphrec.models import knn
from graphrec.models.content import TfidfContent, item_terms
from graphrec.models.ease import EASE, ease_weights
from graphrec.models.ials import IALS
from graphrec.models.knn import ItemKNN, UserKNN, shrunk_cosine_topk

# (user, item, split) rows with raw ids u0..u3 -> 0..3 and items 10..14 -> 0..4.
# Training interactions, as a matrix with users as rows:
#        i0 i1 i2 i3 i4
#   u0    1  1  1  .  .
#   u1    1  1  .  .  .
#   u2    .  1  1  1  .
#   u3    1  .  .  1  .
# u0 has i3 in test, u1 has i4 in test and u3 has i4 in validation, so i4 has no training interaction.
GRID = [
    (0, 10, TRAIN), (0, 11, TRAIN), (0, 12, TRAIN), (0, 13, TEST),
    (1, 10, TRAIN), (1, 11, TRAIN), (1, 14, TEST),
    (2, 11, TRAIN), (2, 12, TRAIN), (2, 13, TRAIN),
    (3, 10, TRAIN), (3, 13, TRAIN), (3, 14, VALID),
]

# Item cosines of the grid, by hand: item norms are sqrt(3), sqrt(3), sqrt(2), sqrt(2), 0.
S01 = 2 / 3  # users u0, u1 in common
S02 = 1 / math.sqrt(6)  # u0
S03 = 1 / math.sqrt(6)  # u3
S12 = 2 / math.sqrt(6)  # u0, u2
S13 = 1 / math.sqrt(6)  # u2
S23 = 1 / 2  # u2

# User cosines of the grid, by hand: user norms are sqrt(3), sqrt(2), sqrt(3), sqrt(2).
U01 = 2 / math.sqrt(6)  # items i0, i1 in common
U02 = 2 / 3  # i1, i2
U03 = 1 / math.sqrt(6)  # i0
U12 = 1 / math.sqrt(6)  # i1
U13 = 1 / 2  # i0
U23 = 1 / math.sqrt(6)  # i3


def make_dataset(rows, item_table: pd.DataFrame | None = None, name: str = "grid") -> RecDataset:
    """Build a RecDataset from (user, item, split) rows, with the given split labels."""
    users = np.array([row[0] for row in rows], dtype=np.int64)
    items = np.array([row[1] for row in rows], dtype=np.int64)
    interactions = pd.DataFrame(
        {
            "user_id": users,
            "item_id": items,
            "rating": np.full(len(rows), 4.0),
            "timestamp": 881250000 + np.arange(len(rows), dtype=np.int64),
        }
    )
    if item_table is None:
        item_ids = np.unique(items)
        item_table = pd.DataFrame(
            {
                "item_id": item_ids,
                "title": [f"Movie {item}" for item in item_ids],
                "year": pd.array([None] * len(item_ids), dtype="Int64"),
                "genres": pd.Series([()] * len(item_ids), dtype=object),
            }
        )
    raw = RawData(name=name, interactions=interactions, items=item_table, users=None, genres=[])
    labels = np.array([row[2] for row in rows], dtype=np.int8)
    return build_dataset(raw, assign_scenarios("weekday-weekend", raw), (0.8, 0.1, 0.1), 0, split_labels=labels)


def fitted(cls, dataset, **params):
    model = cls(dataset, None, **params)
    model.fit(dataset)
    return model


def scores_of(model, users) -> np.ndarray:
    result = model.score(torch.tensor(users, dtype=torch.int64))
    assert result.dtype == torch.float32
    return result.double().numpy()


@pytest.fixture
def grid():
    return make_dataset(GRID)


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN, EASE, IALS])
def test_fit_leaves_train_matrix_unchanged(grid, cls):
    before = grid.train_matrix.toarray().copy()
    fitted(cls, grid)

    np.testing.assert_array_equal(grid.train_matrix.toarray(), before)


# --------------------------------------------------------------------------
# itemknn


def test_itemknn_all_neighbours(grid):
    scores = scores_of(fitted(ItemKNN, grid, k=100), [0, 3])

    # score(u, i) = sum of sim(j, i) over the user's training items j other than i.
    expected_u0 = [S01 + S02, S01 + S12, S02 + S12, S03 + S13 + S23, 0.0]
    expected_u3 = [S03, S01 + S13, S02 + S23, S03, 0.0]
    np.testing.assert_allclose(scores[0], expected_u0, rtol=1e-6)
    np.testing.assert_allclose(scores[1], expected_u3, rtol=1e-6)


def test_itemknn_top1_neighbour(grid):
    # Nearest neighbour per item: i0 -> i1 (2/3), i1 -> i2, i2 -> i1, i3 -> i2 (1/2), i4 -> none.
    scores = scores_of(fitted(ItemKNN, grid, k=1), [0, 1, 3])

    np.testing.assert_allclose(scores[0], [S01, S12, S12, S23, 0.0], rtol=1e-6)
    np.testing.assert_allclose(scores[1], [S01, 0.0, S12, 0.0, 0.0], rtol=1e-6)
    # u3 has i0 and i3, and neither is the nearest neighbour of any item.
    np.testing.assert_allclose(scores[2], [0.0] * 5, atol=0.0)


def test_itemknn_shrinkage(grid):
    scores = scores_of(fitted(ItemKNN, grid, k=100, shrink=1.0), [3])

    # sim = dot / (norm_a * norm_b + 1): i1 gets 2 / (3 + 1) from i0 and 1 / (sqrt(6) + 1) from i3.
    expected_i1 = 2 / 4 + 1 / (math.sqrt(6) + 1)
    expected_i2 = 1 / (math.sqrt(6) + 1) + 1 / (2 + 1)
    assert scores[0, 1] == pytest.approx(expected_i1, rel=1e-6)
    assert scores[0, 2] == pytest.approx(expected_i2, rel=1e-6)


def test_itemknn_ignores_heldout_interactions():
    dataset = tiny_dataset()
    train_only = dataclasses.replace(
        dataset,
        **{
            column: getattr(dataset, column)[dataset.splits == TRAIN]
            for column in ("users", "items", "ratings", "timestamps", "scenarios", "splits")
        },
    )
    all_users = list(range(dataset.n_users))

    full = scores_of(fitted(ItemKNN, dataset, k=3), all_users)
    trained_on_train_only = scores_of(fitted(ItemKNN, train_only, k=3), all_users)
    np.testing.assert_array_equal(full, trained_on_train_only)

    # The comparison can fail: labelling every interaction TRAIN changes the scores.
    everything = dataclasses.replace(dataset, splits=np.full_like(dataset.splits, TRAIN))
    assert not np.allclose(full, scores_of(fitted(ItemKNN, everything, k=3), all_users))


def test_itemknn_rejects_bad_params(grid):
    with pytest.raises(ConfigError, match="k must be a positive"):
        ItemKNN(grid, None, k=0)
    with pytest.raises(ConfigError, match="shrink must be"):
        ItemKNN(grid, None, shrink=-1.0)


# --------------------------------------------------------------------------
# userknn


def test_userknn_top1_neighbour(grid):
    # Nearest neighbour per user: u1 -> u0 (2/sqrt(6)), u3 -> u1 (1/2).
    scores = scores_of(fitted(UserKNN, grid, k=1), [1, 3])

    np.testing.assert_allclose(scores[0], [U01, U01, U01, 0.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(scores[1], [U13, U13, 0.0, 0.0, 0.0], rtol=1e-6)


def test_userknn_tie_keeps_lower_index(grid):
    # u3's second neighbour ties between u0 and u2 (both 1/sqrt(6)), and u0 wins.
    scores = scores_of(fitted(UserKNN, grid, k=2), [3])

    np.testing.assert_allclose(scores[0], [U13 + U03, U13 + U03, U03, 0.0, 0.0], rtol=1e-6)


def test_userknn_all_neighbours(grid):
    scores = scores_of(fitted(UserKNN, grid, k=100), [2])

    # u2's neighbours u0, u1, u3 vote for their training items.
    expected = [U02 + U12 + U23, U02 + U12, U02, U23, 0.0]
    np.testing.assert_allclose(scores[0], expected, rtol=1e-6)


# --------------------------------------------------------------------------
# the shared top-k similarity


def dense_topk_similarity(vectors: np.ndarray, k: int, shrink: float) -> np.ndarray:
    """Compute the top-k shrunk cosine rows with dense loops and a stable argsort."""
    n = len(vectors)
    result = np.zeros((n, n))
    for a in range(n):
        similarity = np.zeros(n)
        for b in range(n):
            dot = float(vectors[a] @ vectors[b])
            if b != a and dot != 0.0:
                similarity[b] = dot / (np.linalg.norm(vectors[a]) * np.linalg.norm(vectors[b]) + shrink)
        candidates = [b for b in np.argsort(-similarity, kind="stable") if similarity[b] != 0.0]
        for b in candidates[:k]:
            result[a, b] = similarity[b]
    return result


@pytest.mark.parametrize("block_limit", [1, 60, 10**9])
@pytest.mark.parametrize("k, shrink", [(1, 0.0), (3, 0.0), (4, 2.5), (50, 1.0)])
def test_topk_matches_dense_loops(monkeypatch, block_limit, k, shrink):
    rng = np.random.default_rng(3)
    vectors = (rng.random((30, 12)) < 0.3).astype(np.float64)
    vectors[5] = 0.0  # a row with no interaction keeps no neighbour

    # A limit of 1 puts every row in its own block, 60 a few rows per block, 10**9 all rows in one.
    monkeypatch.setattr(knn, "MAX_PRODUCTS_PER_BLOCK", block_limit)
    result = shrunk_cosine_topk(vectors, k, shrink).toarray()

    np.testing.assert_allclose(result, dense_topk_similarity(vectors, k, shrink), rtol=1e-6, atol=0.0)
    assert (np.count_nonzero(result, axis=1) <= k).all()


# --------------------------------------------------------------------------
# ease


def test_ease_two_items_by_hand():
    # Training: u0 has i0 and i1, u1 has i0, u2 has i0 and i1. So X^T X = [[3, 2], [2, 2]].
    dataset = make_dataset([(0, 10, TRAIN), (0, 11, TRAIN), (1, 10, TRAIN), (2, 10, TRAIN), (2, 11, TRAIN)])
    model = fitted(EASE, dataset, reg_weight=1.0)

    # With two items B_01 = <x_0, x_1> / (||x_0||^2 + lambda), the ridge regression of item 1 on item 0.
    expected_weights = [[0.0, 2 / (3 + 1)], [2 / (2 + 1), 0.0]]
    np.testing.assert_allclose(model.weights, expected_weights, rtol=1e-6)
    np.testing.assert_allclose(scores_of(model, [1]), [[0.0, 0.5]], rtol=1e-6)


def ridge_weights_per_item(matrix: np.ndarray, reg_weight: float) -> np.ndarray:
    """Solve EASE's objective column by column: regress item j on all other items, with B_jj = 0."""
    n_items = matrix.shape[1]
    weights = np.zeros((n_items, n_items))
    for j in range(n_items):
        others = [i for i in range(n_items) if i != j]
        inputs = matrix[:, others]
        system = inputs.T @ inputs + reg_weight * np.eye(len(others))
        weights[others, j] = np.linalg.solve(system, inputs.T @ matrix[:, j])
    return weights


def test_ease_matches_ridge_regression_per_item():
    rng = np.random.default_rng(11)
    matrix = (rng.random((25, 9)) < 0.35).astype(np.float64)

    weights = ease_weights(matrix, reg_weight=3.0)

    np.testing.assert_allclose(weights, ridge_weights_per_item(matrix, 3.0), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(np.diag(weights), 0.0)


def test_ease_scores_are_history_times_weights(grid):
    model = fitted(EASE, grid, reg_weight=2.0)
    history = grid.train_matrix.toarray().astype(np.float64)
    expected = history @ ridge_weights_per_item(history, 2.0)

    np.testing.assert_allclose(scores_of(model, [0, 1, 2, 3]), expected, rtol=1e-4, atol=1e-6)


def test_ease_rejects_nonpositive_reg_weight(grid):
    with pytest.raises(ConfigError, match="reg_weight must be"):
        EASE(grid, None, reg_weight=0.0)


# --------------------------------------------------------------------------
# ials


def test_ials_same_seed_same_scores(grid):
    params = {"factors": 4, "iterations": 5, "random_state": 7}
    first = scores_of(fitted(IALS, grid, **params), [0, 1, 2, 3])
    second = scores_of(fitted(IALS, grid, **params), [0, 1, 2, 3])
    other_seed = scores_of(fitted(IALS, grid, **{**params, "random_state": 8}), [0, 1, 2, 3])

    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other_seed)


def test_ials_seed_from_torch_generator(grid):
    torch.manual_seed(5)
    first = scores_of(fitted(IALS, grid, factors=4, iterations=5), [0, 1])
    torch.manual_seed(5)
    second = scores_of(fitted(IALS, grid, factors=4, iterations=5), [0, 1])

    np.testing.assert_array_equal(first, second)


def test_ials_items_solve_confidence_weighted_least_squares(grid):
    alpha, regularization = 4.0, 0.1
    model = fitted(IALS, grid, factors=3, regularization=regularization, alpha=alpha, iterations=200, random_state=1)
    users = model.user_factors.double().numpy()
    items = model.item_factors.double().numpy()
    preference = grid.train_matrix.toarray()

    # Each sweep ends with the item solve, so every y_i solves
    # (X^T C_i X + lambda I) y_i = X^T C_i p_i with c_ui = 1 + alpha * p_ui, the item-side normal equations.
    for item in range(grid.n_items):
        confidence = 1.0 + alpha * preference[:, item]
        system = users.T @ (confidence[:, None] * users) + regularization * np.eye(3)
        target = users.T @ (confidence * preference[:, item])
        np.testing.assert_allclose(items[item], np.linalg.solve(system, target), rtol=1e-3, atol=1e-4)


# --------------------------------------------------------------------------
# tfidf-content


def content_dataset() -> RecDataset:
    """Four items with genres and tags. u0 trains on i0 and i2 and has i3, the only Drama, in test."""
    items = pd.DataFrame(
        {
            "item_id": np.array([10, 11, 12, 13], dtype=np.int64),
            "title": ["A", "B", "C", "D"],
            "year": pd.array([None] * 4, dtype="Int64"),
            "genres": pd.Series([("Action",), ("Action", "Comedy"), ("Comedy",), ("Drama",)], dtype=object),
            "tags": pd.Series([("Space", "space "), (), (), ()], dtype=object),
        }
    )
    rows = [(0, 10, TRAIN), (0, 12, TRAIN), (0, 13, TEST), (1, 11, TRAIN), (1, 13, VALID)]
    return make_dataset(rows, item_table=items, name="content")


def test_item_terms_merge_tag_spellings():
    terms = item_terms(content_dataset().item_table)

    assert terms[0] == ["genre=Action", "tag=space"]
    assert terms[3] == ["genre=Drama"]


def test_tfidf_scores_by_hand():
    dataset = content_dataset()
    scores = scores_of(fitted(TfidfContent, dataset), [0, 1])

    # Smoothed idf over 4 items: ln(5 / (1 + df)) + 1. Action and Comedy have df 2, the tag space df 1.
    idf_shared, idf_single = math.log(5 / 3) + 1, math.log(5 / 2) + 1
    norm_i0 = math.hypot(idf_shared, idf_single)
    t0 = {"Action": idf_shared / norm_i0, "space": idf_single / norm_i0}
    t1 = {"Action": 1 / math.sqrt(2), "Comedy": 1 / math.sqrt(2)}
    t2 = {"Comedy": 1.0}

    # u0's profile is the mean of t0 and t2, over training items only.
    profile = {"Action": t0["Action"] / 2, "space": t0["space"] / 2, "Comedy": t2["Comedy"] / 2}
    profile_norm = math.sqrt(sum(value * value for value in profile.values()))

    def cosine(vector):
        return sum(profile.get(term, 0.0) * value for term, value in vector.items()) / profile_norm

    np.testing.assert_allclose(scores[0], [cosine(t0), cosine(t1), cosine(t2), 0.0], rtol=1e-5)
    # u1 trains on i1 only, so its scores are the cosines with t1.
    np.testing.assert_allclose(scores[1], [t0["Action"] / math.sqrt(2), 1.0, 1 / math.sqrt(2), 0.0], rtol=1e-5)


def test_tfidf_profile_uses_training_items_only():
    dataset = content_dataset()
    drama = 3
    assert fitted(TfidfContent, dataset).score(torch.tensor([0, 1]))[:, drama].tolist() == [0.0, 0.0]

    # The check can fail: once u0's test interaction with the Drama item counts as training, it scores above 0.
    everything = dataclasses.replace(dataset, splits=np.full_like(dataset.splits, TRAIN))
    assert fitted(TfidfContent, everything).score(torch.tensor([0]))[0, drama].item() > 0.0


def test_tfidf_needs_genres_or_tags(grid):
    with pytest.raises(DataError, match="needs genres or tags"):
        fitted(TfidfContent, grid)
