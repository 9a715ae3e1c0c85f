"""RecDataset: interactions with contiguous ids, scenarios and a split."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphrec.data.scenarios import ScenarioAssignment
from graphrec.data.split import SPLIT_NAMES, TRAIN, random_split_by_user
from graphrec.data.tables import RawData

logger = logging.getLogger(__name__)


@dataclass
class RecDataset:
    """A split dataset ready for models and evaluation.

    Users and items get contiguous indices ``0..n-1``; ``user_ids[u]`` and
    ``item_ids[i]`` give back the raw ids. The interaction arrays (``users``,
    ``items``, ``ratings``, ``timestamps``, ``scenarios``, ``splits``) are
    aligned, one entry per interaction.
    """

    name: str
    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    scenarios: np.ndarray
    splits: np.ndarray
    scenario_spec: str
    scenario_level: str
    scenario_names: tuple[str, ...]
    item_table: pd.DataFrame
    user_table: pd.DataFrame | None
    user_scenario: np.ndarray | None = None
    item_scenario: np.ndarray | None = None
    source_files: list = field(default_factory=list)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_scenarios(self) -> int:
        return len(self.scenario_names)

    def mask(self, split: int) -> np.ndarray:
        return self.splits == split

    def interaction_matrix(self, split: int, scenario: int | None = None) -> sp.csr_matrix:
        """Return a binary users-by-items CSR matrix of one split's interactions."""
        keep = self.splits == split
        if scenario is not None:
            keep &= self.scenarios == scenario
        data = np.ones(int(keep.sum()), dtype=np.float32)
        matrix = sp.csr_matrix(
            (data, (self.users[keep], self.items[keep])), shape=(self.n_users, self.n_items)
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return matrix

    @cached_property
    def train_matrix(self) -> sp.csr_matrix:
        return self.interaction_matrix(TRAIN)

    @cached_property
    def user_scenario_share(self) -> np.ndarray:
        """Share of each user's training interactions per scenario, ``[n_users, n_scenarios]``.

        Users without training interactions get a uniform share.
        """
        train = self.splits == TRAIN
        counts = np.zeros((self.n_users, self.n_scenarios), dtype=np.float64)
        np.add.at(counts, (self.users[train], self.scenarios[train]), 1.0)
        totals = counts.sum(axis=1, keepdims=True)
        share = np.where(totals > 0, counts / np.maximum(totals, 1.0), 1.0 / self.n_scenarios)
        return share.astype(np.float32)

    def summary(self) -> dict[str, int]:
        stats = {"users": self.n_users, "items": self.n_items, "interactions": len(self.users)}
        for code, split_name in enumerate(SPLIT_NAMES):
            stats[split_name] = int((self.splits == code).sum())
        return stats


def build_dataset(
    raw: RawData,
    assignment: ScenarioAssignment,
    split_ratios: tuple[float, float, float],
    seed: int,
    split_labels: np.ndarray | None = None,
) -> RecDataset:
    """Index the raw ids, split the interactions and bundle the result.

    Without ``split_labels`` each user's interactions are split at random
    with ``split_ratios`` and ``seed``.

    Every user and item that has any interaction gets an index, so an item seen
    only in validation or test still has a (never trained) embedding row, as in
    RecBole.
    """
    frame = raw.interactions
    user_codes, user_ids = pd.factorize(frame["user_id"], sort=True)
    item_codes, item_ids = pd.factorize(frame["item_id"], sort=True)

    if split_labels is None:
        splits = random_split_by_user(user_codes.astype(np.int64), split_ratios, seed)
    else:
        splits = np.asarray(split_labels, dtype=np.int8)
        if len(splits) != len(frame):
            raise ValueError(f"split_labels has {len(splits)} entries for {len(frame)} interactions")

    items = raw.items.set_index("item_id").reindex(item_ids.rename("item_id")).reset_index()
    users = None
    if raw.users is not None:
        users = raw.users.set_index("user_id").reindex(user_ids.rename("user_id")).reset_index()

    user_scenario = item_scenario = None
    if assignment.level == "user":
        user_scenario = assignment.entity_scenario.reindex(user_ids).to_numpy(dtype=np.int64)
    elif assignment.level == "item":
        item_scenario = assignment.entity_scenario.reindex(item_ids).to_numpy(dtype=np.int64)

    dataset = RecDataset(
        name=raw.name,
        user_ids=np.asarray(user_ids),
        item_ids=np.asarray(item_ids),
        users=user_codes.astype(np.int64),
        items=item_codes.astype(np.int64),
        ratings=frame["rating"].to_numpy(dtype=np.float32),
        timestamps=frame["timestamp"].to_numpy(dtype=np.int64),
        scenarios=assignment.interaction_scenario,
        splits=splits.astype(np.int8),
        scenario_spec=assignment.spec,
        scenario_level=assignment.level,
        scenario_names=assignment.names,
        item_table=items,
        user_table=users,
        user_scenario=user_scenario,
        item_scenario=item_scenario,
        source_files=list(raw.source_files),
    )
    logger.info("dataset %s: %s", raw.name, dataset.summary())
    return dataset
