"""Tests for item coverage of top-K lists (graphrec.eval.coverage)."""

from __future__ import annotations

import numpy as np
import pytest

from graphrec.eval.coverage import item_coverage_at_k

# Three users' top-3 lists over a catalogue of 10 items.
TOPK = np.array([[0, 1, 2], [1, 3, 4], [2, 0, 5]])


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        # First column: items 0, 1, 2 -> 3 / 10.
        (1, 0.3),
        # First two columns: items 0, 1, 2, 3 -> 4 / 10.
        (2, 0.4),
        # All columns: items 0, 1, 2, 3, 4, 5 -> 6 / 10.
        (3, 0.6),
    ],
)
def test_coverage_by_hand(k, expected):
    assert item_coverage_at_k(TOPK, 10, k) == pytest.approx(expected)


def test_coverage_skips_empty_ranks():
    # -1 marks an empty rank, so only item 4 counts: 1 / 5.
    assert item_coverage_at_k(np.array([[4, -1], [4, -1]]), 5, 2) == pytest.approx(0.2)


def test_coverage_without_users():
    assert item_coverage_at_k(np.zeros((0, 3), dtype=np.int64), 10, 2) == 0.0


def test_coverage_rejects_bad_input():
    with pytest.raises(ValueError, match="between 1 and topk_items.shape\\[1\\] = 3"):
        item_coverage_at_k(TOPK, 10, 4)
    with pytest.raises(ValueError, match="between 1 and"):
        item_coverage_at_k(TOPK, 10, 0)
    with pytest.raises(ValueError, match="item index 5 is outside \\[0, n_items\\) = \\[0, 5\\)"):
        item_coverage_at_k(TOPK, 5, 3)
    with pytest.raises(ValueError, match="2-D"):
        item_coverage_at_k(np.array([1, 2]), 5, 1)
    with pytest.raises(ValueError, match="n_items must be a positive int"):
        item_coverage_at_k(TOPK, 0, 1)
