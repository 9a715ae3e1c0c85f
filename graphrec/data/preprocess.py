"""Interaction filters applied to RawData before scenarios and splits.

``preprocess`` runs the enabled steps in a fixed order and returns the filtered
data with one StepReport per step. Each step also logs one INFO line with the
rows, users and items it removed, even when it removed nothing.

Only the interactions table changes. The item and user tables are kept whole,
so they may describe items and users that no longer have interactions.
build_dataset indexes only the users and items that have interactions, so
these extra rows do no harm there.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphrec.data.tables import RawData
from graphrec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

DUPLICATE_POLICIES = ("keep", "last", "mean", "sum")


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of the preprocessing steps. The defaults leave the data unchanged.

    The enabled steps run in this order:

    1. ``time_window``: keep interactions with ``start <= timestamp < end``
       (Unix seconds). Either bound may be ``None`` for no bound.
    2. ``duplicates``: what to do with repeated (user, item) pairs. ``keep``
       keeps every row. ``last`` keeps the row with the latest timestamp, and
       the later row in the table on a tie. ``mean`` and ``sum`` keep that same
       row but replace its rating with the mean or sum over the pair.
    3. ``implicit_threshold``: keep interactions with ``rating >= threshold``.
       The ratings of the kept rows are not changed.
    4. ``min_user_interactions``: one pass that drops the users with fewer
       interactions.
    5. ``min_item_interactions``: one pass that drops the items with fewer
       interactions. It may leave some users below step 4's minimum.
    6. ``k_core``: drop every user and every item with fewer than ``k``
       interactions, repeated until no more rows drop.

    Interactions are counted as rows, so use ``duplicates`` to count each
    (user, item) pair once. A value of 0 turns steps 4 to 6 off.
    """

    implicit_threshold: float | None = None
    duplicates: str = "keep"
    k_core: int = 0
    min_user_interactions: int = 0
    min_item_interactions: int = 0
    time_window: tuple[int | None, int | None] | None = None

    def __post_init__(self) -> None:
        if self.duplicates not in DUPLICATE_POLICIES:
            raise ConfigError(
                f"invalid duplicates policy {self.duplicates!r}; valid policies: {', '.join(DUPLICATE_POLICIES)}"
            )
        for name in ("k_core", "min_user_interactions", "min_item_interactions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ConfigError(f"{name} must be a whole number of at least 0 (0 turns it off), got {value!r}")
        if self.implicit_threshold is not None and not np.isfinite(self.implicit_threshold):
            raise ConfigError(f"implicit_threshold must be a finite number or None, got {self.implicit_threshold!r}")
        if self.time_window is not None:
            self._check_time_window()

    def _check_time_window(self) -> None:
        window = self.time_window
        if not isinstance(window, (tuple, list)) or len(window) != 2:
            raise ConfigError(f"time_window must be a (start, end) pair of Unix seconds, got {window!r}")
        start, end = window
        for bound in (start, end):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, np.integer))):
                raise ConfigError(f"time_window bounds must be whole Unix seconds or None, got {window!r}")
        if start is not None and end is not None and start >= end:
            raise ConfigError(f"time_window start must be before its end, got {window!r}")


@dataclass(frozen=True)
class StepReport:
    """Rows, users and items before and after one preprocessing step.

    ``users_removed`` and ``items_removed`` count the distinct users and items
    that had interactions before the step and have none after it.
    """

    name: str
    rows_before: int
    rows_after: int
    users_removed: int
    items_removed: int


def preprocess(raw: RawData, config: PreprocessConfig) -> tuple[RawData, list[StepReport]]:
    """Apply the enabled steps of ``config`` to ``raw.interactions``.

    Returns a new RawData, whose interactions have a fresh 0..n-1 index and
    keep every column (including extra ones such as ``domain``), and one
    StepReport per enabled step in the order they ran. ``raw`` is not
    modified. Raises DataError when a step needs a column that the
    interactions lack.
    """
    frame = raw.interactions
    reports: list[StepReport] = []

    for name, step in _enabled_steps(config):
        after = step(frame, raw.name).reset_index(drop=True)
        report = _report(name, frame, after)
        logger.info(
            "preprocess %s, %s: removed %d of %d interactions, %d users and %d items; %d interactions remain",
            raw.name, name, report.rows_before - report.rows_after, report.rows_before,
            report.users_removed, report.items_removed, report.rows_after,
        )
        reports.append(report)
        frame = after

    if not reports:
        frame = frame.reset_index(drop=True)
    return dataclasses.replace(raw, interactions=frame.copy()), reports


def _enabled_steps(config: PreprocessConfig) -> list[tuple[str, Callable[[pd.DataFrame, str], pd.DataFrame]]]:
    """Return ``(report name, step function)`` for each enabled step, in the documented order."""
    steps = []
    if config.time_window is not None:
        start, end = config.time_window
        steps.append((f"time_window [{start}, {end})", lambda f, d: _time_window(f, d, start, end)))
    if config.duplicates != "keep":
        steps.append((f"duplicates={config.duplicates}", lambda f, d: _merge_duplicates(f, d, config.duplicates)))
    if config.implicit_threshold is not None:
        threshold = config.implicit_threshold
        steps.append((f"implicit_threshold>={threshold:g}", lambda f, d: _threshold(f, d, threshold)))
    if config.min_user_interactions > 0:
        minimum = config.min_user_interactions
        steps.append((f"min_user_interactions={minimum}", lambda f, d: _min_count(f, "user_id", minimum)))
    if config.min_item_interactions > 0:
        minimum = config.min_item_interactions
        steps.append((f"min_item_interactions={minimum}", lambda f, d: _min_count(f, "item_id", minimum)))
    if config.k_core > 0:
        k = config.k_core
        steps.append((f"k_core={k}", lambda f, d: _k_core(f, d, k)))
    return steps


def _report(name: str, before: pd.DataFrame, after: pd.DataFrame) -> StepReport:
    return StepReport(
        name=name,
        rows_before=len(before),
        rows_after=len(after),
        users_removed=before["user_id"].nunique() - after["user_id"].nunique(),
        items_removed=before["item_id"].nunique() - after["item_id"].nunique(),
    )


def _require_column(frame: pd.DataFrame, column: str, step: str, dataset: str) -> None:
    if column not in frame.columns:
        raise DataError(
            f"preprocessing step {step} needs the interaction column {column!r}, "
            f"but dataset {dataset!r} has only {', '.join(map(str, frame.columns))}"
        )


def _time_window(frame: pd.DataFrame, dataset: str, start: int | None, end: int | None) -> pd.DataFrame:
    _require_column(frame, "timestamp", "time_window", dataset)
    stamps = frame["timestamp"].to_numpy()
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= stamps >= start
    if end is not None:
        keep &= stamps < end
    return frame[keep]


def _merge_duplicates(frame: pd.DataFrame, dataset: str, policy: str) -> pd.DataFrame:
    """Keep one row per (user, item) pair: the latest, with its rating aggregated for mean and sum."""
    _require_column(frame, "timestamp", f"duplicates={policy}", dataset)
    if policy in ("mean", "sum"):
        _require_column(frame, "rating", f"duplicates={policy}", dataset)

    # A stable sort by timestamp puts each pair's latest row last, and the
    # later table row last among equal timestamps.
    by_time = frame.sort_values("timestamp", kind="stable")
    last = ~by_time.duplicated(["user_id", "item_id"], keep="last")
    kept = frame.loc[by_time.index[last.to_numpy()]].sort_index()
    if policy == "last":
        return kept

    pairs = pd.MultiIndex.from_frame(frame[["user_id", "item_id"]])
    aggregate = frame["rating"].groupby(pairs).agg(policy)
    kept = kept.copy()
    kept["rating"] = aggregate.reindex(pd.MultiIndex.from_frame(kept[["user_id", "item_id"]])).to_numpy()
    return kept


def _threshold(frame: pd.DataFrame, dataset: str, threshold: float) -> pd.DataFrame:
    _require_column(frame, "rating", f"implicit_threshold>={threshold:g}", dataset)
    return frame[frame["rating"].to_numpy() >= threshold]


def _min_count(frame: pd.DataFrame, column: str, minimum: int) -> pd.DataFrame:
    counts = frame[column].map(frame[column].value_counts())
    return frame[counts.to_numpy() >= minimum]


def _k_core(frame: pd.DataFrame, dataset: str, k: int) -> pd.DataFrame:
    """Drop users and items with fewer than ``k`` rows until every remaining one has at least ``k``."""
    rounds = 0
    while True:
        user_counts = frame["user_id"].map(frame["user_id"].value_counts()).to_numpy()
        item_counts = frame["item_id"].map(frame["item_id"].value_counts()).to_numpy()
        keep = (user_counts >= k) & (item_counts >= k)
        if keep.all():
            break
        frame = frame[keep]
        rounds += 1
    logger.debug("preprocess %s, k_core=%d: stable after %d filtering rounds", dataset, k, rounds)
    return frame
