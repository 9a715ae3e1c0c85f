"""Tests for the temporal, leave-last-out, k-fold and file-based splits (graphrec.data.splits_extra)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import real_data_root
from helpers import tiny_raw

from graphrec.data.movielens import load_ml100k
from graphrec.data.split import TEST, TRAIN, VALID, random_split_by_user, split_counts
from graphrec.data.splits_extra import (
    CANONICAL_ML100K_SPLITS,
    canonical_ml100k_split,
    carve_validation,
    custom_split_files,
    global_temporal_split,
    kfold_split_by_user,
    leave_last_out,
    temporal_split_by_user,
)
from graphrec.errors import DataError

T, V, X = TRAIN, VALID, TEST
LOGGER = "graphrec.data.splits_extra"


def part_counts(labels: np.ndarray) -> tuple[int, int, int]:
    return int((labels == TRAIN).sum()), int((labels == VALID).sum()), int((labels == TEST).sum())


# ---------------------------------------------------------------------------
# temporal_split_by_user


def test_temporal_per_user_hand_case():
    users = np.array([5, 2, 5, 5, 2, 5, 9, 5])
    timestamps = np.array([40, 100, 10, 30, 50, 30, 1, 20])

    labels = temporal_split_by_user(users, timestamps, (0.8, 0.1, 0.1))

    # User 5 has rows 0, 2, 3, 5, 7 at times 40, 10, 30, 30, 20. Oldest first:
    # 2 (10), 7 (20), 3 (30), 5 (30), 0 (40), where rows 3 and 5 tie and keep row order.
    # split_counts(5) = (3, 1, 1): train 2, 7, 3, valid 5, test 0.
    # User 2 has rows 4 (50) and 1 (100). split_counts(2) = (1, 0, 1): train 4, test 1.
    # User 9 has one row, and split_counts(1) = (1, 0, 0) keeps it in train.
    assert labels.tolist() == [X, X, T, T, T, V, T, T]
    assert labels.dtype == np.int8


def test_temporal_per_user_ties_follow_row_order():
    # Five rows of one user at the same time: the cut follows row order alone.
    labels = temporal_split_by_user(np.zeros(5, dtype=np.int64), np.full(5, 7), (0.6, 0.2, 0.2))

    # split_counts(5, (0.6, 0.2, 0.2)): floor(1.0) = 1 each for valid and test, 3 for train.
    assert labels.tolist() == [T, T, T, V, X]


def test_temporal_per_user_matches_split_counts():
    rng = np.random.default_rng(3)
    users = rng.integers(0, 30, size=600)
    timestamps = rng.integers(0, 50, size=600)

    labels = temporal_split_by_user(users, timestamps, (0.7, 0.15, 0.15))

    for user in np.unique(users):
        rows = users == user
        assert part_counts(labels[rows]) == split_counts(int(rows.sum()), (0.7, 0.15, 0.15)), f"user {user}"
        train_times = timestamps[rows & (labels == TRAIN)]
        test_times = timestamps[rows & (labels == TEST)]
        if test_times.size > 0:
            assert train_times.max() <= test_times.min(), f"user {user}"


def test_temporal_per_user_rejects_bad_input():
    with pytest.raises(ValueError, match="summing to 1"):
        temporal_split_by_user(np.array([0, 0]), np.array([1, 2]), (0.8, 0.1, 0.2))
    with pytest.raises(ValueError, match="timestamps has 1 entries"):
        temporal_split_by_user(np.array([0, 0]), np.array([1]), (0.8, 0.1, 0.1))


# ---------------------------------------------------------------------------
# global_temporal_split


def test_global_temporal_without_ties():
    timestamps = np.array([5, 1, 3, 4, 9, 7, 0, 8, 2, 6])

    labels = global_temporal_split(timestamps, (0.6, 0.2, 0.2))

    # split_counts(10, (0.6, 0.2, 0.2)) = (6, 2, 2). Times 0..5 are train, 6 and 7 valid, 8 and 9 test.
    assert labels.tolist() == [T, T, T, T, X, V, T, X, T, V]


def test_global_temporal_tie_goes_to_earlier_part(caplog):
    timestamps = np.array([4, 1, 3, 3, 3, 9, 2, 8, 3, 6])

    with caplog.at_level(logging.INFO, logger=LOGGER):
        labels = global_temporal_split(timestamps, (0.4, 0.3, 0.3))

    # Sorted times: 1 2 3 3 3 3 4 6 8 9. split_counts gives (4, 3, 3).
    # The 4th sorted time is 3, so train is every time <= 3: six rows, not four.
    # The 7th sorted time is 4, so valid is 3 < t <= 4: one row. Test is t > 4: 6, 8 and 9.
    assert labels.tolist() == [V, T, T, T, T, X, T, X, T, X]
    assert part_counts(labels) == (6, 1, 3)
    assert any("(6, 1, 3) instead of (4, 3, 3)" in record.getMessage() for record in caplog.records)


def test_global_temporal_parts_are_strictly_ordered():
    rng = np.random.default_rng(11)
    timestamps = rng.integers(0, 40, size=500)

    labels = global_temporal_split(timestamps, (0.8, 0.1, 0.1))

    assert timestamps[labels == TRAIN].max() < timestamps[labels == VALID].min()
    assert timestamps[labels == VALID].max() < timestamps[labels == TEST].min()


def test_global_temporal_single_time_is_all_train():
    # split_counts(4) = (2, 1, 1), but all four rows share one time, so the tie run fills train.
    labels = global_temporal_split(np.ones(4, dtype=np.int64), (0.5, 0.25, 0.25))

    assert labels.tolist() == [T, T, T, T]


def test_global_temporal_empty_input():
    labels = global_temporal_split(np.array([], dtype=np.int64), (0.8, 0.1, 0.1))

    assert labels.shape == (0,)
    assert labels.dtype == np.int8


# ---------------------------------------------------------------------------
# leave_last_out

# User 1: rows 0 (10), 1 (30), 2 (20), 6 (30). Rows 1 and 6 tie, so row 6 counts as newer.
# User 2: rows 3 and 4, both at time 5.
# User 3: rows 5 (7), 7 (1), 8 (1). Rows 7 and 8 tie, so row 8 counts as newer.
LEAVE_LAST_USERS = np.array([1, 1, 1, 2, 2, 3, 1, 3, 3])
LEAVE_LAST_TIMES = np.array([10, 30, 20, 5, 5, 7, 30, 1, 1])


def test_leave_last_out_hand_case(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        labels = leave_last_out(LEAVE_LAST_USERS, LEAVE_LAST_TIMES)

    # User 1, oldest first: 0, 2, 1, 6. Test 6, valid 1, train 0 and 2.
    # User 2 has 2 rows, which is not more than n_valid + n_test = 2, so both stay in train.
    # User 3, oldest first: 7, 8, 5. Test 5, valid 8, train 7.
    assert labels.tolist() == [T, V, T, T, T, X, X, T, V]
    messages = [record.getMessage() for record in caplog.records]
    assert any("1 users with at most 2 interactions" in message for message in messages)
    assert any("all 2 of their interactions" in message for message in messages)


def test_leave_last_out_two_test_no_valid():
    labels = leave_last_out(LEAVE_LAST_USERS, LEAVE_LAST_TIMES, n_valid=0, n_test=2)

    # User 1: test 1 and 6, train 0 and 2. User 2: 2 rows <= 2, all train. User 3: test 8 and 5, train 7.
    assert labels.tolist() == [T, X, T, T, T, X, X, T, X]


def test_leave_last_out_rejects_zero_held_out():
    with pytest.raises(ValueError, match="n_valid \\+ n_test >= 1"):
        leave_last_out(LEAVE_LAST_USERS, LEAVE_LAST_TIMES, n_valid=0, n_test=0)
    with pytest.raises(ValueError, match="n_test must be an int >= 0"):
        leave_last_out(LEAVE_LAST_USERS, LEAVE_LAST_TIMES, n_test=-1)


# ---------------------------------------------------------------------------
# kfold_split_by_user


def kfold_users() -> np.ndarray:
    """Users 0..11 with 1..12 rows each, shuffled."""
    users = np.concatenate([np.full(n, n - 1) for n in range(1, 13)])
    return np.random.default_rng(5).permutation(users)


def test_kfold_every_row_is_test_exactly_once():
    users = kfold_users()

    folds = [kfold_split_by_user(users, k=5, fold=fold, seed=17) for fold in range(5)]

    test_count = sum((labels == TEST).astype(int) for labels in folds)
    assert test_count.tolist() == [1] * users.shape[0]


def test_kfold_user_fold_sizes_balanced():
    users = kfold_users()

    folds = [kfold_split_by_user(users, k=5, fold=fold, seed=17) for fold in range(5)]

    for user in range(12):
        sizes = [int(((labels == TEST) & (users == user)).sum()) for labels in folds]
        assert max(sizes) - min(sizes) <= 1, f"user {user}: {sizes}"
        assert sum(sizes) == user + 1, f"user {user}: {sizes}"


def test_kfold_hand_counts():
    # One user with 10 rows and one with 3, k = 5 and valid_ratio = 0.25.
    users = np.array([0] * 10 + [1] * 3)

    for fold in range(5):
        labels = kfold_split_by_user(users, k=5, fold=fold, seed=2, valid_ratio=0.25)

        # User 0: 2 test rows per fold. Of the other 8, floor(0.25 * 8) = 2 are valid.
        assert part_counts(labels[:10]) == (6, 2, 2), f"fold {fold}"
        # User 1 has 1 test row in three folds and none in two.
        # 2 rows left: floor(0.5) = 0, raised to 1 valid because 2 > 1 rows are in train.
        # 3 rows left: floor(0.75) = 0, raised to 1 valid.
        assert part_counts(labels[10:]) in ((1, 1, 1), (2, 1, 0)), f"fold {fold}"


def test_kfold_depends_only_on_seed():
    users = kfold_users()

    first = kfold_split_by_user(users, k=4, fold=1, seed=9)
    again = kfold_split_by_user(users, k=4, fold=1, seed=9)
    other_seed = kfold_split_by_user(users, k=4, fold=1, seed=10)

    assert first.tolist() == again.tolist()
    assert first.tolist() != other_seed.tolist()


def test_kfold_rejects_bad_arguments():
    users = np.array([0, 0, 1])
    with pytest.raises(ValueError, match="fold must be in"):
        kfold_split_by_user(users, k=3, fold=3, seed=0)
    with pytest.raises(ValueError, match="k must be an int >= 2"):
        kfold_split_by_user(users, k=1, fold=0, seed=0)
    with pytest.raises(ValueError, match="valid_ratio must be in"):
        kfold_split_by_user(users, k=2, fold=0, seed=0, valid_ratio=1.0)


# ---------------------------------------------------------------------------
# carve_validation


def test_carve_validation_hand_counts():
    # User 0: 8 train rows and 1 test row. User 1: 2 train rows and 1 test row. User 2: 1 train row.
    users = np.array([0] * 9 + [1] * 3 + [2])
    labels = np.array([T] * 8 + [X] + [T, T, X] + [T], dtype=np.int8)
    original = labels.copy()

    carved = carve_validation(labels, users, ratio=0.25, seed=4)

    # User 0: floor(0.25 * 8) = 2 valid. User 1: floor(0.5) = 0, raised to 1 because 2 rows are in train.
    # User 2: 0.25 is raised only while more than one row stays in train, so nothing moves.
    assert part_counts(carved[:9]) == (6, 2, 1)
    assert part_counts(carved[9:12]) == (1, 1, 1)
    assert carved[12] == T
    assert carved[8] == X
    assert carved[11] == X
    assert labels.tolist() == original.tolist()


def test_carve_validation_is_seeded():
    users = np.repeat(np.arange(20), 10)
    labels = np.zeros(users.shape[0], dtype=np.int8)

    first = carve_validation(labels, users, 0.2, seed=1)
    again = carve_validation(labels, users, 0.2, seed=1)
    other_seed = carve_validation(labels, users, 0.2, seed=2)

    assert first.tolist() == again.tolist()
    assert first.tolist() != other_seed.tolist()


# ---------------------------------------------------------------------------
# canonical_ml100k_split on hand-made files

# Interaction rows of a tiny u.data: (user, item, timestamp).
TINY_UDATA = [(1, 10, 100), (1, 11, 101), (2, 10, 102), (2, 12, 103), (3, 11, 104)]


def tiny_udata() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    users, items, times = zip(*TINY_UDATA)
    return np.array(users), np.array(items), np.array(times)


def write_ml100k_file(path: Path, rows: list[tuple[int, int, int]]) -> None:
    path.write_text("".join(f"{user}\t{item}\t3\t{time}\n" for user, item, time in rows))


def write_u1(folder: Path, base: list[tuple[int, int, int]], test: list[tuple[int, int, int]]) -> None:
    write_ml100k_file(folder / "u1.base", base)
    write_ml100k_file(folder / "u1.test", test)


def test_canonical_labels_by_pair(tmp_path):
    # The files list the pairs in another order than the interaction rows.
    write_u1(tmp_path, base=[(2, 12, 103), (1, 10, 100), (3, 11, 104)], test=[(2, 10, 102), (1, 11, 101)])

    labels = canonical_ml100k_split(tmp_path, "u1", *tiny_udata())

    assert labels.tolist() == [T, X, X, T, T]
    assert labels.dtype == np.int8


def test_canonical_missing_pair_names_file_and_line(tmp_path):
    write_u1(tmp_path, base=[(1, 10, 100), (1, 11, 101), (2, 10, 102)], test=[(2, 12, 103), (3, 99, 104)])

    with pytest.raises(DataError, match="item 99\\) matches no interaction row") as info:
        canonical_ml100k_split(tmp_path, "u1", *tiny_udata())

    assert info.value.path == tmp_path / "u1.test"
    assert info.value.line == 2


def test_canonical_ambiguous_pair(tmp_path):
    users, items, times = tiny_udata()
    users = np.append(users, 1)
    items = np.append(items, 10)
    times = np.append(times, 105)
    write_u1(tmp_path, base=[(2, 10, 102), (1, 10, 100)], test=[])

    with pytest.raises(DataError, match="more than one interaction row") as info:
        canonical_ml100k_split(tmp_path, "u1", users, items, times)

    assert info.value.path == tmp_path / "u1.base"
    assert info.value.line == 2


def test_canonical_pair_in_base_and_test(tmp_path):
    write_u1(tmp_path, base=[(1, 10, 100), (1, 11, 101), (2, 10, 102)], test=[(2, 12, 103), (1, 11, 101)])

    with pytest.raises(DataError, match="also listed on line 2 of u1.base") as info:
        canonical_ml100k_split(tmp_path, "u1", *tiny_udata())

    assert info.value.path == tmp_path / "u1.test"
    assert info.value.line == 2


def test_canonical_pair_listed_twice_in_one_file(tmp_path):
    write_u1(tmp_path, base=[(1, 10, 100), (1, 11, 101), (1, 10, 100)], test=[])

    with pytest.raises(DataError, match="listed twice in this file, first on line 1") as info:
        canonical_ml100k_split(tmp_path, "u1", *tiny_udata())

    assert info.value.line == 3


def test_canonical_timestamp_mismatch(tmp_path):
    write_u1(tmp_path, base=[(1, 10, 100), (1, 11, 999)], test=[])

    with pytest.raises(DataError, match="timestamp 999 here but 101") as info:
        canonical_ml100k_split(tmp_path, "u1", *tiny_udata())

    assert info.value.line == 2


def test_canonical_row_in_neither_file(tmp_path):
    write_u1(tmp_path, base=[(1, 10, 100), (1, 11, 101), (2, 10, 102)], test=[(2, 12, 103)])

    with pytest.raises(DataError, match="row 4 \\(user 3, item 11\\) is in neither u1.base nor u1.test"):
        canonical_ml100k_split(tmp_path, "u1", *tiny_udata())


def test_canonical_malformed_line(tmp_path):
    write_u1(tmp_path, base=[(1, 10, 100)], test=[])
    with (tmp_path / "u1.base").open("a") as handle:
        handle.write("1\t11\t3\n")

    with pytest.raises(DataError, match="expected 4 tab-separated fields") as info:
        canonical_ml100k_split(tmp_path, "u1", *tiny_udata())

    assert info.value.line == 2


def test_canonical_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(DataError, match="file not found") as info:
        canonical_ml100k_split(tmp_path, "ua", *tiny_udata())
    assert info.value.path == tmp_path / "ua.base"

    with pytest.raises(ValueError, match="unknown ml-100k split 'u6'"):
        canonical_ml100k_split(tmp_path, "u6", *tiny_udata())


# ---------------------------------------------------------------------------
# canonical_ml100k_split on the real files


@pytest.fixture(scope="module")
def ml100k():
    root = real_data_root("ml-100k")
    return root / "ml-100k", load_ml100k(root / "ml-100k").interactions


def canonical_labels(ml100k, name: str) -> np.ndarray:
    folder, frame = ml100k
    return canonical_ml100k_split(
        folder,
        name,
        frame["user_id"].to_numpy(),
        frame["item_id"].to_numpy(),
        frame["timestamp"].to_numpy(),
    )


@pytest.mark.real_data
@pytest.mark.parametrize(("name", "expected"), [("u1", (80_000, 0, 20_000)), ("ua", (90_570, 0, 9_430))])
def test_canonical_real_counts(ml100k, name, expected):
    # The ml-100k README: u1..u5 are 80%/20% splits, ua and ub hold out exactly 10 ratings per user (943 users).
    assert part_counts(canonical_labels(ml100k, name)) == expected


@pytest.mark.real_data
def test_canonical_real_five_folds_partition(ml100k):
    # u1.test .. u5.test are disjoint, so every rating is test in exactly one of them.
    test_count = sum((canonical_labels(ml100k, f"u{fold}") == TEST).astype(int) for fold in range(1, 6))

    assert test_count.min() == 1
    assert test_count.max() == 1


@pytest.mark.real_data
def test_canonical_real_ua_ten_test_per_user(ml100k):
    labels = canonical_labels(ml100k, "ua")
    users = ml100k[1]["user_id"].to_numpy()

    per_user = np.bincount(users[labels == TEST])[1:]

    assert per_user.min() == 10
    assert per_user.max() == 10


def test_canonical_names_constant():
    assert CANONICAL_ML100K_SPLITS == ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


# ---------------------------------------------------------------------------
# custom_split_files


def write_parts(folder: Path, frame: pd.DataFrame, labels: np.ndarray, columns: list[str]) -> list[Path]:
    paths = []
    for label, name in ((TRAIN, "train"), (VALID, "valid"), (TEST, "test")):
        path = folder / f"{name}.csv"
        frame.loc[labels == label, columns].to_csv(path, index=False)
        paths.append(path)
    return paths


def test_custom_files_round_trip(tmp_path):
    frame = tiny_raw().interactions
    labels = random_split_by_user(frame["user_id"].to_numpy(), (0.8, 0.1, 0.1), seed=3)
    paths = write_parts(tmp_path, frame, labels, ["user_id", "item_id", "rating", "timestamp"])

    loaded, loaded_labels, report = custom_split_files(frame, *paths, policy="keep")

    # The loaded table lists train, then valid, then test rows, each in the order written.
    order = np.argsort(labels, kind="stable")
    expected = frame.iloc[order].reset_index(drop=True)
    pd.testing.assert_frame_equal(loaded, expected, check_dtype=True)
    assert loaded_labels.tolist() == labels[order].tolist()
    assert (report["train"], report["valid"], report["test"]) == part_counts(labels)
    assert report["dropped"] == 0
    assert report["not_in_files"] == 0
    assert report["pairs_in_several_parts"] == 0


def test_custom_files_fill_rating_and_timestamp(tmp_path):
    frame = tiny_raw().interactions
    labels = random_split_by_user(frame["user_id"].to_numpy(), (0.8, 0.1, 0.1), seed=3)
    paths = write_parts(tmp_path, frame, labels, ["user_id", "item_id"])

    loaded, loaded_labels, _ = custom_split_files(frame, *paths, policy="keep")

    order = np.argsort(labels, kind="stable")
    pd.testing.assert_frame_equal(loaded, frame.iloc[order].reset_index(drop=True))
    assert loaded_labels.tolist() == labels[order].tolist()


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def cold_files(tmp_path):
    """Split files where item 12 and user 3 never occur in train, and pair (1, 11) is in train and test."""
    train = write_csv(
        tmp_path / "train.csv",
        "user_id,item_id,rating,timestamp\n1,10,4,100\n1,11,3,101\n2,10,5,102\n",
    )
    valid = write_csv(tmp_path / "valid.csv", "user_id,item_id,rating,timestamp\n1,12,2,103\n2,11,4,104\n")
    test = write_csv(
        tmp_path / "test.csv",
        "user_id,item_id,rating,timestamp\n3,10,1,105\n2,12,5,106\n1,11,3,107\n",
    )
    return train, valid, test


def test_custom_files_drop_policy(cold_files, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded, labels, report = custom_split_files(None, *cold_files, policy="drop")

    # Valid drops (1, 12). Test drops (3, 10) and (2, 12). Left: 3 train, 1 valid, 1 test.
    assert labels.tolist() == [T, T, T, V, X]
    assert loaded[["user_id", "item_id"]].values.tolist() == [[1, 10], [1, 11], [2, 10], [2, 11], [1, 11]]
    assert report == {
        "train": 3,
        "valid": 1,
        "test": 1,
        "unseen_users": 1,
        "unseen_items": 1,
        "cold_rows": 3,
        "dropped": 3,
        "pairs_in_several_parts": 1,
        "not_in_files": 0,
    }
    messages = [record.getMessage() for record in caplog.records]
    assert any("dropped 3 valid/test rows" in message for message in messages)
    assert any("1 (user, item) pairs occur in more than one" in message for message in messages)


def test_custom_files_keep_policy(cold_files):
    loaded, labels, report = custom_split_files(None, *cold_files, policy="keep")

    assert labels.tolist() == [T, T, T, V, V, X, X, X]
    assert loaded["rating"].tolist() == [4.0, 3.0, 5.0, 2.0, 4.0, 1.0, 5.0, 3.0]
    assert loaded["timestamp"].tolist() == [100, 101, 102, 103, 104, 105, 106, 107]
    assert (report["cold_rows"], report["dropped"]) == (3, 0)


def test_custom_files_error_policy(cold_files):
    with pytest.raises(DataError, match="item_id 12 never occurs in the train file") as info:
        custom_split_files(None, *cold_files, policy="error")

    assert info.value.path == cold_files[1]
    # Line 1 is the header, so the first data row is line 2.
    assert info.value.line == 2


def test_custom_files_counts_rows_not_listed(cold_files):
    interactions = pd.DataFrame(
        {"user_id": [1, 1, 4], "item_id": [10, 11, 40], "rating": [4.0, 3.0, 1.0], "timestamp": [100, 101, 1]}
    )

    _, _, report = custom_split_files(interactions, *cold_files, policy="keep")

    # Only (4, 40) is in none of the files.
    assert report["not_in_files"] == 1


def test_custom_files_require_header(tmp_path, cold_files):
    train = write_csv(tmp_path / "no_header.csv", "1,10,4,100\n")

    with pytest.raises(DataError, match="header line lacks the column") as info:
        custom_split_files(None, train, cold_files[1], cold_files[2])

    assert info.value.line == 1


def test_custom_files_bad_value_names_line(tmp_path, cold_files):
    valid = write_csv(tmp_path / "bad.csv", "user_id,item_id,rating,timestamp\n2,11,4,104\n2,x,4,104\n")

    with pytest.raises(DataError, match="column item_id must be an integer") as info:
        custom_split_files(None, cold_files[0], valid, cold_files[2])

    assert info.value.path == valid
    assert info.value.line == 3


def test_custom_files_lookup_needs_interactions(tmp_path, cold_files):
    valid = write_csv(tmp_path / "ids_only.csv", "user_id,item_id\n2,11\n")

    with pytest.raises(DataError, match="no rating column and interactions_df does not provide one"):
        custom_split_files(None, cold_files[0], valid, cold_files[2])

    interactions = pd.DataFrame({"user_id": [1], "item_id": [10], "rating": [4.0], "timestamp": [100]})
    with pytest.raises(DataError, match="\\(user_id 2, item_id 11\\) is not in interactions_df") as info:
        custom_split_files(interactions, cold_files[0], valid, cold_files[2])
    assert info.value.line == 2


def test_custom_files_rejects_empty_train_and_bad_policy(tmp_path, cold_files):
    train = write_csv(tmp_path / "empty.csv", "user_id,item_id,rating,timestamp\n")

    with pytest.raises(DataError, match="train file has no rows"):
        custom_split_files(None, train, cold_files[1], cold_files[2])
    with pytest.raises(ValueError, match="unknown policy 'skip'"):
        custom_split_files(None, *cold_files, policy="skip")
