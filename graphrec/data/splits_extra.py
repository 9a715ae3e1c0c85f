"""More train/validation/test splits: temporal, leave-last-out, k-fold and file-based.

Every split returns an int8 array with one label per interaction row
(``TRAIN``, ``VALID`` or ``TEST`` from :mod:`graphrec.data.split`), in the
order of the input rows. Ties in time are broken by row order, so every result
depends only on its inputs (and on the seed, where there is one).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.data.split import TEST, TRAIN, VALID, split_counts
from graphrec.errors import DataError

logger = logging.getLogger(__name__)

CANONICAL_ML100K_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
UNSEEN_POLICIES = ("drop", "keep", "error")

_ML100K_FIELDS = ("user id", "item id", "rating", "timestamp")
_REQUIRED_COLUMNS = ("user_id", "item_id")
_OPTIONAL_COLUMNS = ("rating", "timestamp")
_INT64_MIN = int(np.iinfo(np.int64).min)
_INT64_MAX = int(np.iinfo(np.int64).max)


# ---------------------------------------------------------------------------
# Input checks


def _validate_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"split ratios must be three non-negative numbers summing to 1, got {ratios}")
    return ratios


def _validate_ids(name: str, ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array with one id per interaction, got shape {ids.shape}")
    if ids.size > 0 and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, got dtype {ids.dtype}")
    return ids.astype(np.int64)


def _validate_timestamps(timestamps: np.ndarray, n_rows: int | None = None) -> np.ndarray:
    timestamps = np.asarray(timestamps)
    if timestamps.ndim != 1:
        raise ValueError(f"timestamps must be a 1-D array, got shape {timestamps.shape}")
    if n_rows is not None and timestamps.shape[0] != n_rows:
        raise ValueError(f"timestamps has {timestamps.shape[0]} entries but users has {n_rows}")
    if timestamps.size > 0 and not np.issubdtype(timestamps.dtype, np.number):
        raise ValueError(f"timestamps must be numeric, got dtype {timestamps.dtype}")
    if np.issubdtype(timestamps.dtype, np.floating) and np.isnan(timestamps).any():
        raise ValueError(f"timestamps contain {int(np.isnan(timestamps).sum())} NaN values")
    return timestamps


def _validate_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _validate_share(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


def _rows_by_user(users: np.ndarray) -> list[np.ndarray]:
    """Group row indices by user, each group in row order and the groups in user order."""
    order = np.argsort(users, kind="stable")
    boundaries = np.flatnonzero(np.diff(users[order])) + 1
    return [rows for rows in np.split(order, boundaries) if rows.size > 0]


def _rows_by_user_in_time(users: np.ndarray, timestamps: np.ndarray) -> list[np.ndarray]:
    """Group row indices by user, each group sorted oldest first with ties in row order."""
    row_index = np.arange(users.shape[0])
    # lexsort sorts by the last key first: user, then timestamp, then row index.
    order = np.lexsort((row_index, timestamps, users))
    boundaries = np.flatnonzero(np.diff(users[order])) + 1
    return [rows for rows in np.split(order, boundaries) if rows.size > 0]


# ---------------------------------------------------------------------------
# Temporal splits


def temporal_split_by_user(
    users: np.ndarray, timestamps: np.ndarray, ratios: tuple[float, float, float]
) -> np.ndarray:
    """Split each user's interactions by time: the oldest go to train, the newest to test.

    Each user's rows are sorted by timestamp (equal timestamps keep their row
    order) and cut with :func:`graphrec.data.split.split_counts`, the same sizes
    as :func:`graphrec.data.split.random_split_by_user` gives.
    """
    ratios = _validate_ratios(ratios)
    users = _validate_ids("users", users)
    timestamps = _validate_timestamps(timestamps, users.shape[0])

    labels = np.empty(users.shape[0], dtype=np.int8)
    for rows in _rows_by_user_in_time(users, timestamps):
        n_train, n_valid, _ = split_counts(len(rows), ratios)
        labels[rows[:n_train]] = TRAIN
        labels[rows[n_train:n_train + n_valid]] = VALID
        labels[rows[n_train + n_valid:]] = TEST
    return labels


def global_temporal_split(timestamps: np.ndarray, ratios: tuple[float, float, float]) -> np.ndarray:
    """Split all interactions at two global points in time.

    The target sizes are ``split_counts(n, ratios)`` over all ``n`` rows, so the
    cuts sit at the time quantiles of the ratios. Rows with equal timestamps
    always share a part. When a run of equal timestamps straddles a cut, the
    whole run goes to the earlier part. So every train timestamp is strictly
    before every valid timestamp, which is strictly before every test
    timestamp. The earlier part can then exceed its target size by the length
    of that run, and a later part can end up smaller or empty. The sizes
    reached are logged.
    """
    ratios = _validate_ratios(ratios)
    timestamps = _validate_timestamps(timestamps)
    n = timestamps.shape[0]
    labels = np.full(n, TRAIN, dtype=np.int8)
    if n == 0:
        return labels

    n_train, n_valid, n_test = split_counts(n, ratios)
    sorted_times = np.sort(timestamps, kind="stable")

    # A row belongs to train when its timestamp is at most that of the last
    # train row of the time-sorted order, so a tie at the cut moves into train.
    if n_train > 0:
        train_end = sorted_times[n_train - 1]
        later_than_train = timestamps > train_end
    else:
        later_than_train = np.ones(n, dtype=bool)
    labels[later_than_train] = VALID

    if n_train + n_valid > 0:
        valid_end = sorted_times[n_train + n_valid - 1]
        labels[later_than_train & (timestamps > valid_end)] = TEST
    else:
        labels[:] = TEST

    reached = tuple(int((labels == part).sum()) for part in (TRAIN, VALID, TEST))
    if reached != (n_train, n_valid, n_test):
        logger.info(
            "global temporal split: equal timestamps at a cut moved rows to the earlier part, "
            "so the sizes are (train, valid, test) = %s instead of %s",
            reached,
            (n_train, n_valid, n_test),
        )
    return labels


def leave_last_out(
    users: np.ndarray, timestamps: np.ndarray, n_valid: int = 1, n_test: int = 1
) -> np.ndarray:
    """Hold out each user's newest interactions: the last ``n_test`` for test, the ``n_valid`` before for valid.

    Equal timestamps keep their row order, so of two tied rows the later row
    counts as newer. A user needs at least ``n_valid + n_test + 1``
    interactions, so that one stays in train. A user with fewer keeps all
    interactions in train, and the number of such users is logged.
    """
    users = _validate_ids("users", users)
    timestamps = _validate_timestamps(timestamps, users.shape[0])
    n_valid = _validate_count("n_valid", n_valid, 0)
    n_test = _validate_count("n_test", n_test, 0)
    if n_valid + n_test == 0:
        raise ValueError("leave_last_out needs n_valid + n_test >= 1, got 0 for both")

    labels = np.full(users.shape[0], TRAIN, dtype=np.int8)
    held_out = n_valid + n_test
    n_short_users = 0
    n_short_rows = 0
    for rows in _rows_by_user_in_time(users, timestamps):
        if len(rows) <= held_out:
            n_short_users += 1
            n_short_rows += len(rows)
            continue
        labels[rows[len(rows) - held_out:len(rows) - n_test]] = VALID
        labels[rows[len(rows) - n_test:]] = TEST

    if n_short_users > 0:
        logger.warning(
            "leave-last-out: %d users with at most %d interactions keep all %d of their interactions in train",
            n_short_users,
            held_out,
            n_short_rows,
        )
    return labels


# ---------------------------------------------------------------------------
# Seeded per-user splits


def _carve_count(n_rows: int, ratio: float) -> int:
    """Return how many of ``n_rows`` train rows move to valid, by the split_counts rule."""
    return split_counts(n_rows, (1.0 - ratio, ratio, 0.0))[1]


def kfold_split_by_user(
    users: np.ndarray, k: int, fold: int, seed: int, valid_ratio: float = 0.1
) -> np.ndarray:
    """Label the test rows of fold ``fold`` of a per-user k-fold split, and carve valid from the rest.

    Each user's rows are shuffled with a generator seeded by ``seed`` and dealt
    to the k folds in turn, from a random starting fold per user. So a user's
    folds differ in size by at most one row, and the larger folds fall on
    different fold numbers for different users. The shuffle and the deal do
    not depend on ``fold``, so over ``fold = 0 .. k-1`` every row is test
    exactly once. A user with fewer than k rows has no test rows in some folds.

    Of each user's remaining rows, ``split_counts(n, (1 - valid_ratio,
    valid_ratio, 0))`` gives the number that become valid. They are picked with
    a second generator seeded by ``(seed, fold)``, and the rest are train.
    """
    users = _validate_ids("users", users)
    k = _validate_count("k", k, 2)
    fold = _validate_count("fold", fold, 0)
    if fold >= k:
        raise ValueError(f"fold must be in [0, k) = [0, {k}), got {fold}")
    seed = _validate_count("seed", seed, 0)
    valid_ratio = _validate_share("valid_ratio", valid_ratio)

    fold_rng = np.random.default_rng(seed)
    valid_rng = np.random.default_rng([seed, fold])
    labels = np.full(users.shape[0], TRAIN, dtype=np.int8)

    for rows in _rows_by_user(users):
        # Both draws happen for every user and every fold, so the fold of each
        # row is the same whichever fold is requested.
        shuffled = rows[fold_rng.permutation(len(rows))]
        start = int(fold_rng.integers(k))
        fold_of_row = (np.arange(len(rows)) + start) % k

        labels[shuffled[fold_of_row == fold]] = TEST
        rest = shuffled[fold_of_row != fold]
        rest.sort()
        n_valid = _carve_count(len(rest), valid_ratio)
        labels[rest[valid_rng.permutation(len(rest))[:n_valid]]] = VALID
    return labels


def carve_validation(labels: np.ndarray, users: np.ndarray, ratio: float, seed: int) -> np.ndarray:
    """Move a seeded share of each user's TRAIN rows to VALID and return the new labels.

    Per user, ``split_counts(n, (1 - ratio, ratio, 0))`` of the ``n`` train
    rows become valid, so a user with few train rows gets one valid row as
    long as more than one row stays in train. VALID and TEST rows are left as
    they are, and the input array is not changed. Use it to add a validation
    part to a split that has none, such as :func:`canonical_ml100k_split`.
    """
    labels = np.asarray(labels)
    users = _validate_ids("users", users)
    if labels.shape != users.shape:
        raise ValueError(f"labels has shape {labels.shape} but users has {users.shape}")
    ratio = _validate_share("ratio", ratio)

    rng = np.random.default_rng(seed)
    carved = labels.astype(np.int8, copy=True)
    train_rows = np.flatnonzero(carved == TRAIN)
    for group in _rows_by_user(users[train_rows]):
        rows = train_rows[group]
        n_valid = _carve_count(len(rows), ratio)
        carved[rows[rng.permutation(len(rows))[:n_valid]]] = VALID
    return carved


# ---------------------------------------------------------------------------
# The canonical ml-100k splits


def _read_ml100k_ratings(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a u1.base-style file: tab-separated user id, item id, rating and timestamp.

    Returns the user ids, item ids and timestamps as int64 arrays, where entry
    ``i`` comes from line ``i + 1``.
    """
    if not path.is_file():
        raise DataError("file not found: the canonical split files ship with the ml-100k release", path=path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"file is not valid UTF-8 or ASCII text ({err})", path=path) from err

    lines = text.splitlines()
    users = np.empty(len(lines), dtype=np.int64)
    items = np.empty(len(lines), dtype=np.int64)
    times = np.empty(len(lines), dtype=np.int64)
    for index, line in enumerate(lines):
        fields = line.split("\t")
        if len(fields) != len(_ML100K_FIELDS):
            raise DataError(
                f"expected {len(_ML100K_FIELDS)} tab-separated fields ({', '.join(_ML100K_FIELDS)}), "
                f"got {len(fields)}: {line[:80]!r}",
                path=path,
                line=index + 1,
            )
        try:
            users[index] = int(fields[0])
            items[index] = int(fields[1])
            times[index] = int(fields[3])
        except ValueError as err:
            raise DataError(f"invalid integer in {line[:80]!r}: {err}", path=path, line=index + 1) from err
    return users, items, times


def _row_of_each_pair(
    pair_index: pd.MultiIndex, duplicated: np.ndarray, users: np.ndarray, items: np.ndarray, path: Path
) -> np.ndarray:
    """Return the interaction row of each (user, item) pair read from ``path``.

    Raises DataError, naming the first offending line, when a pair matches no
    row or more than one row.
    """
    unique_rows = np.flatnonzero(~duplicated)
    positions = pair_index[unique_rows].get_indexer(pd.MultiIndex.from_arrays([users, items]))
    unmatched = np.flatnonzero(positions < 0)
    if unmatched.size > 0:
        first = int(unmatched[0])
        user, item = int(users[first]), int(items[first])
        ambiguous_pairs = pd.MultiIndex.from_arrays([users[unmatched], items[unmatched]]).isin(pair_index[duplicated])
        if ambiguous_pairs[0]:
            reason = "matches more than one interaction row, so the pair is ambiguous"
        else:
            reason = "matches no interaction row"
        raise DataError(
            f"(user {user}, item {item}) {reason} "
            f"({int((~ambiguous_pairs).sum())} missing and {int(ambiguous_pairs.sum())} ambiguous pairs in this file)",
            path=path,
            line=first + 1,
        )
    return unique_rows[positions]


def canonical_ml100k_split(
    folder: Path,
    name: str,
    users_raw: np.ndarray,
    items_raw: np.ndarray,
    timestamps: np.ndarray,
) -> np.ndarray:
    """Label the u.data interactions by one of the split files that ship with ml-100k.

    ``name`` is one of u1..u5 (the five-fold cross-validation splits, 80,000
    train and 20,000 test rows each) or ua and ub (10 test ratings per user,
    90,570 and 9,430 rows). Rows listed in ``<name>.base`` become TRAIN and
    rows in ``<name>.test`` become TEST. The arrays give the raw user id, item
    id and timestamp of every interaction row, as read from u.data.

    The canonical splits have no validation part, so no row is VALID. To carve
    one out of train, pass the result to :func:`carve_validation`.

    Rows are matched by (user id, item id). Raises DataError, naming the file
    and line, when a listed pair matches no row or several rows, when a pair is
    listed twice, or when its timestamp differs from that of its row. Also
    raises DataError when a row appears in neither file.
    """
    if name not in CANONICAL_ML100K_SPLITS:
        raise ValueError(f"unknown ml-100k split {name!r}. Valid names: {', '.join(CANONICAL_ML100K_SPLITS)}")
    folder = Path(folder).expanduser()
    users_raw = _validate_ids("users_raw", users_raw)
    items_raw = _validate_ids("items_raw", items_raw)
    if items_raw.shape != users_raw.shape:
        raise ValueError(f"items_raw has shape {items_raw.shape} but users_raw has {users_raw.shape}")
    timestamps = _validate_timestamps(timestamps, users_raw.shape[0])

    pair_index = pd.MultiIndex.from_arrays([users_raw, items_raw])
    duplicated = pair_index.duplicated(keep=False)

    n_rows = users_raw.shape[0]
    labels = np.full(n_rows, -1, dtype=np.int8)
    # The line of <name>.base that lists each row, to name both places of a row listed twice.
    base_line = np.zeros(n_rows, dtype=np.int64)

    for label, suffix in ((TRAIN, "base"), (TEST, "test")):
        path = folder / f"{name}.{suffix}"
        file_users, file_items, file_times = _read_ml100k_ratings(path)
        rows = _row_of_each_pair(pair_index, duplicated, file_users, file_items, path)

        wrong_time = np.flatnonzero(timestamps[rows] != file_times)
        if wrong_time.size > 0:
            first = int(wrong_time[0])
            raise DataError(
                f"(user {int(file_users[first])}, item {int(file_items[first])}) has timestamp "
                f"{int(file_times[first])} here but {timestamps[rows[first]]} in the interactions "
                f"({wrong_time.size} such lines). The split files must come from the same release as u.data",
                path=path,
                line=first + 1,
            )

        listed_before = pd.Index(rows).duplicated(keep="first")
        if listed_before.any():
            first = int(np.flatnonzero(listed_before)[0])
            earlier_line = int(np.flatnonzero(rows == rows[first])[0]) + 1
            raise DataError(
                f"(user {int(file_users[first])}, item {int(file_items[first])}) is listed twice in this file, "
                f"first on line {earlier_line}",
                path=path,
                line=first + 1,
            )
        in_base = labels[rows] >= 0
        if in_base.any():
            first = int(np.flatnonzero(in_base)[0])
            row = int(rows[first])
            raise DataError(
                f"(user {int(file_users[first])}, item {int(file_items[first])}) is also listed on line "
                f"{int(base_line[row])} of {name}.base, but each interaction must be in exactly one part",
                path=path,
                line=first + 1,
            )

        labels[rows] = label
        if label == TRAIN:
            base_line[rows] = np.arange(1, rows.shape[0] + 1)

    unlabelled = np.flatnonzero(labels < 0)
    if unlabelled.size > 0:
        row = int(unlabelled[0])
        raise DataError(
            f"interaction row {row} (user {int(users_raw[row])}, item {int(items_raw[row])}) is in neither "
            f"{name}.base nor {name}.test ({unlabelled.size} such rows). "
            "The split files must come from the same release as u.data",
            path=folder,
        )

    logger.info(
        "canonical ml-100k split %s: %d train and %d test interactions, no validation part",
        name,
        int((labels == TRAIN).sum()),
        int((labels == TEST).sum()),
    )
    return labels


# ---------------------------------------------------------------------------
# Splits given as files


def _parse_column(values: pd.Series, column: str, kind: str, path: Path) -> np.ndarray:
    """Convert one CSV column to int64 (kind "int") or float64, raising DataError on the first bad line."""
    text = values.str.strip()
    if kind == "int":
        bad = ~text.str.fullmatch(r"[+-]?[0-9]+").to_numpy(dtype=bool)
        if not bad.any():
            numbers = [int(value) for value in text]
            bad = np.array([not _INT64_MIN <= number <= _INT64_MAX for number in numbers], dtype=bool)
    else:
        floats = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(floats)

    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        expected = "an integer that fits in int64" if kind == "int" else "a finite number"
        raise DataError(
            f"column {column} must be {expected}, got {values.iloc[first]!r}",
            path=path,
            line=first + 2,
        )
    if kind == "int":
        return np.array(numbers, dtype=np.int64)
    return floats


def _read_split_csv(path: Path) -> pd.DataFrame:
    """Read one split file into user_id and item_id (int64) and, when present, rating and timestamp.

    Row ``i`` of the result comes from line ``i + 2``, because line 1 is the header.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError("split file not found", path=path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"cannot parse the file as CSV: {err}", path=path) from err
    except pd.errors.EmptyDataError as err:
        raise DataError("file is empty, but it needs at least the header line user_id,item_id", path=path) from err

    table.columns = [str(column).strip() for column in table.columns]
    missing = [column for column in _REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise DataError(
            f"header line lacks the column(s) {missing}, got {list(table.columns)}. "
            f"Expected a header with user_id,item_id and optionally rating,timestamp",
            path=path,
            line=1,
        )

    parsed = {}
    for column in _REQUIRED_COLUMNS + _OPTIONAL_COLUMNS:
        if column in table.columns:
            kind = "float" if column == "rating" else "int"
            parsed[column] = _parse_column(table[column], column, kind, path)
    return pd.DataFrame(parsed)


def _fill_from_interactions(
    frame: pd.DataFrame, interactions: pd.DataFrame | None, column: str, path: Path
) -> np.ndarray:
    """Look up ``column`` of each (user_id, item_id) pair of ``frame`` in ``interactions``."""
    if interactions is None or column not in interactions.columns:
        raise DataError(
            f"file has no {column} column and interactions_df does not provide one to look it up",
            path=path,
            line=1,
        )
    pair_index = pd.MultiIndex.from_arrays(
        [interactions["user_id"].to_numpy(dtype=np.int64), interactions["item_id"].to_numpy(dtype=np.int64)]
    )
    duplicated = pair_index.duplicated(keep=False)
    unique_rows = np.flatnonzero(~duplicated)
    requested_pairs = pd.MultiIndex.from_arrays([frame["user_id"].to_numpy(), frame["item_id"].to_numpy()])
    positions = pair_index[unique_rows].get_indexer(requested_pairs)

    unmatched = np.flatnonzero(positions < 0)
    if unmatched.size > 0:
        first = int(unmatched[0])
        user, item = int(frame["user_id"].iloc[first]), int(frame["item_id"].iloc[first])
        ambiguous = pd.MultiIndex.from_tuples([(user, item)]).isin(pair_index[duplicated])[0]
        reason = "matches more than one row of interactions_df" if ambiguous else "is not in interactions_df"
        raise DataError(
            f"cannot look up {column}: (user_id {user}, item_id {item}) {reason} "
            f"({unmatched.size} such lines). Add a {column} column to the file",
            path=path,
            line=first + 2,
        )
    return interactions[column].to_numpy()[unique_rows[positions]]


def _cold_rows(frame: pd.DataFrame, train: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return bool masks of the rows of ``frame`` whose user, and whose item, is absent from ``train``."""
    unseen_user = ~frame["user_id"].isin(train["user_id"]).to_numpy()
    unseen_item = ~frame["item_id"].isin(train["item_id"]).to_numpy()
    return unseen_user, unseen_item


def custom_split_files(
    interactions_df: pd.DataFrame | None,
    train_path: Path,
    valid_path: Path,
    test_path: Path,
    policy: str = "drop",
) -> tuple[pd.DataFrame, np.ndarray, dict[str, int]]:
    """Build the interaction table and its split from three user-supplied CSV files.

    Each file is a CSV with a header line. The columns ``user_id`` and
    ``item_id`` (integers) are required, ``rating`` and ``timestamp`` are
    optional, and other columns are ignored. A file without ``rating`` or
    ``timestamp`` takes the value from the row of ``interactions_df`` with the
    same (user_id, item_id). That pair must then occur exactly once there.

    The files define the split exactly, so the returned table holds the rows of
    the three files (train, then valid, then test, each in file order) rather
    than the rows of ``interactions_df``. Its columns are ``user_id``,
    ``item_id``, ``rating`` (float64) and ``timestamp`` (int64), as in
    :class:`graphrec.data.tables.RawData`. Rows of ``interactions_df`` that no
    file lists are left out and counted.

    ``policy`` sets what happens to a valid or test row whose user or item
    never occurs in the train file:

    - ``"drop"``: remove the row, then count and log the removals.
    - ``"keep"``: keep the row. Its user or item will be cold-start.
    - ``"error"``: raise DataError naming the file, line and id.

    Returns ``(interactions, labels, report)``. ``labels`` is an int8 array
    aligned with the rows of ``interactions``. ``report`` counts the ``train``,
    ``valid`` and ``test`` rows returned, the distinct ``unseen_users`` and
    ``unseen_items`` of valid and test, the ``cold_rows`` that have either,
    the rows ``dropped``, the (user, item) pairs that occur in more than one
    part (``pairs_in_several_parts``), and the rows of ``interactions_df``
    in no file (``not_in_files``, 0 without interactions_df).
    """
    if policy not in UNSEEN_POLICIES:
        raise ValueError(f"unknown policy {policy!r} for unseen users and items. Valid: {', '.join(UNSEEN_POLICIES)}")
    if interactions_df is not None:
        missing = [column for column in _REQUIRED_COLUMNS if column not in interactions_df.columns]
        if missing:
            raise ValueError(f"interactions_df lacks the column(s) {missing}, got {list(interactions_df.columns)}")

    parts = [
        (label, Path(path).expanduser(), _read_split_part(Path(path).expanduser(), interactions_df))
        for label, path in ((TRAIN, train_path), (VALID, valid_path), (TEST, test_path))
    ]
    train_path, train = parts[0][1], parts[0][2]
    if len(train) == 0:
        raise DataError("the train file has no rows", path=train_path)

    kept_frames = []
    kept_labels = []
    unseen_users: set[int] = set()
    unseen_items: set[int] = set()
    n_cold = n_dropped = 0
    for label, path, frame in parts:
        keep = np.ones(len(frame), dtype=bool)
        if label != TRAIN:
            unseen_user, unseen_item = _cold_rows(frame, train)
            cold = unseen_user | unseen_item
            unseen_users.update(frame["user_id"].to_numpy()[unseen_user].tolist())
            unseen_items.update(frame["item_id"].to_numpy()[unseen_item].tolist())
            n_cold += int(cold.sum())

            if policy == "error" and cold.any():
                first = int(np.flatnonzero(cold)[0])
                column = "user_id" if unseen_user[first] else "item_id"
                raise DataError(
                    f"{column} {int(frame[column].iloc[first])} never occurs in the train file {train_path} "
                    f"({int(cold.sum())} such rows in this file). "
                    'Pass policy="drop" to remove such rows or policy="keep" to keep them as cold-start',
                    path=path,
                    line=first + 2,
                )
            if policy == "drop":
                keep = ~cold
                n_dropped += int(cold.sum())

        kept_frames.append(frame[keep])
        kept_labels.append(np.full(int(keep.sum()), label, dtype=np.int8))

    interactions = pd.concat(kept_frames, ignore_index=True)
    labels = np.concatenate(kept_labels)
    if n_dropped > 0:
        logger.warning(
            "split files: dropped %d valid/test rows whose user or item never occurs in train "
            "(%d unseen users, %d unseen items)",
            n_dropped,
            len(unseen_users),
            len(unseen_items),
        )

    report = {
        "train": int((labels == TRAIN).sum()),
        "valid": int((labels == VALID).sum()),
        "test": int((labels == TEST).sum()),
        "unseen_users": len(unseen_users),
        "unseen_items": len(unseen_items),
        "cold_rows": n_cold,
        "dropped": n_dropped,
        "pairs_in_several_parts": _count_pairs_in_several_parts(interactions, labels),
        "not_in_files": _count_rows_not_listed(interactions_df, [frame for _, _, frame in parts]),
    }
    return interactions, labels, report


def _read_split_part(path: Path, interactions_df: pd.DataFrame | None) -> pd.DataFrame:
    """Read one split file and fill a missing rating or timestamp column from ``interactions_df``."""
    frame = _read_split_csv(path)
    for column in _OPTIONAL_COLUMNS:
        if column not in frame.columns:
            frame[column] = _fill_from_interactions(frame, interactions_df, column, path)
    frame = frame.astype({"rating": np.float64, "timestamp": np.int64})
    return frame[list(_REQUIRED_COLUMNS + _OPTIONAL_COLUMNS)]


def _count_pairs_in_several_parts(interactions: pd.DataFrame, labels: np.ndarray) -> int:
    """Count the (user, item) pairs that occur in more than one of train, valid and test, and log them."""
    pairs = pd.DataFrame({"user_id": interactions["user_id"], "item_id": interactions["item_id"], "label": labels})
    parts_per_pair = pairs.drop_duplicates().groupby(["user_id", "item_id"]).size()
    count = int((parts_per_pair > 1).sum())
    if count > 0:
        logger.warning("split files: %d (user, item) pairs occur in more than one of train, valid and test", count)
    return count


def _count_rows_not_listed(interactions_df: pd.DataFrame | None, frames: list[pd.DataFrame]) -> int:
    """Count the rows of ``interactions_df`` whose (user, item) pair no split file lists, and log them."""
    if interactions_df is None:
        return 0
    interaction_pairs = pd.MultiIndex.from_arrays(
        [interactions_df["user_id"].to_numpy(dtype=np.int64), interactions_df["item_id"].to_numpy(dtype=np.int64)]
    )
    listed = pd.MultiIndex.from_frame(pd.concat(frames)[["user_id", "item_id"]])
    count = int((~interaction_pairs.isin(listed)).sum())
    if count > 0:
        logger.info("split files: %d rows of interactions_df are in none of the three files", count)
    return count
