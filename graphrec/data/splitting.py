"""Turn the protocol's split settings into TRAIN/VALID/TEST labels for a dataset."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.data import splits_extra
from graphrec.data.scenario_holdout import scenario_holdout_split
from graphrec.data.split import random_split_by_user
from graphrec.data.tables import RawData
from graphrec.errors import ConfigError

logger = logging.getLogger(__name__)

SPLIT_METHODS = (
    "random", "temporal", "global-temporal", "leave-last-out", "kfold", "interactions", "canonical", "files",
    "scenario-holdout",
)


def split_dataset(
    raw: RawData, protocol, data_root: Path, scenarios: np.ndarray | None = None
) -> tuple[RawData, np.ndarray]:
    """Return the (possibly rebuilt) raw data and one split label per interaction.

    ``protocol`` is a :class:`graphrec.experiments.config.ProtocolConfig`.
    Only the ``files`` method changes the interactions: the three files then
    define them. ``canonical`` and ``kfold`` have no validation part of their
    own, so a seeded per-user share ``valid_ratio`` of their training part
    becomes validation. ``scenario-holdout`` needs ``scenarios``, the
    scenario id of every interaction.
    """
    method = protocol.split_method
    frame = raw.interactions
    users = pd.factorize(frame["user_id"], sort=True)[0].astype(np.int64)
    timestamps = frame["timestamp"].to_numpy(dtype=np.int64)
    ratios = tuple(protocol.split)

    if method == "random":
        return raw, random_split_by_user(users, ratios, protocol.seed)
    if method == "temporal":
        return raw, splits_extra.temporal_split_by_user(users, timestamps, ratios)
    if method == "global-temporal":
        return raw, splits_extra.global_temporal_split(timestamps, ratios)
    if method == "leave-last-out":
        return raw, splits_extra.leave_last_out(users, timestamps)
    if method == "interactions":
        from graphrec.experiments.ctr_runner import random_split_over_interactions

        return raw, random_split_over_interactions(len(frame), ratios, protocol.seed)
    if method == "kfold":
        labels = splits_extra.kfold_split_by_user(users, protocol.folds, protocol.fold, protocol.seed, valid_ratio=0.0)
        return raw, splits_extra.carve_validation(labels, users, protocol.valid_ratio, protocol.seed)
    if method == "canonical":
        labels = splits_extra.canonical_ml100k_split(
            data_root / "ml-100k", protocol.canonical_split,
            frame["user_id"].to_numpy(), frame["item_id"].to_numpy(), timestamps,
        )
        return raw, splits_extra.carve_validation(labels, users, protocol.valid_ratio, protocol.seed)
    if method == "files":
        return _split_from_files(raw, protocol)
    if method == "scenario-holdout":
        if scenarios is None:
            raise ConfigError("split_method scenario-holdout needs the scenario of every interaction. Pass the scenarios argument.")
        return raw, scenario_holdout_split(users, scenarios, ratios, protocol.holdout_share, protocol.seed)
    raise ConfigError(f"unknown protocol.split_method {method!r}; valid methods: {', '.join(SPLIT_METHODS)}")


def _split_from_files(raw: RawData, protocol) -> tuple[RawData, np.ndarray]:
    files = protocol.split_files
    missing = [part for part in ("train", "valid", "test") if part not in files]
    if missing:
        raise ConfigError(f"protocol.split_files needs the keys train, valid and test; missing: {', '.join(missing)}")
    frame, labels, report = splits_extra.custom_split_files(
        raw.interactions, Path(files["train"]), Path(files["valid"]), Path(files["test"]), policy=protocol.unseen_policy
    )
    logger.info("split files: %s", report)
    return dataclasses.replace(raw, interactions=frame), labels


def export_split(dataset, folder: Path) -> list[Path]:
    """Write ``train.csv``, ``valid.csv`` and ``test.csv`` with raw ids, in interaction order.

    Feeding these files back with ``split_method: files`` and
    ``unseen_policy: keep`` rebuilds the same dataset and split.
    """
    from graphrec.io import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({
        "user_id": dataset.user_ids[dataset.users],
        "item_id": dataset.item_ids[dataset.items],
        "rating": dataset.ratings,
        "timestamp": dataset.timestamps,
    })
    paths = []
    for code, name in enumerate(("train", "valid", "test")):
        path = folder / f"{name}.csv"
        atomic_write_text(path, frame[dataset.splits == code].to_csv(index=False))
        paths.append(path)
    return paths
