"""Per-user result files and the significance statement of a benchmark run.

Each finished top-K or sampled run writes its per-user test values to
``per-user/<label>-seed<seed>.npz``, overall and per scenario (see
:func:`per_user_entries`). After the run, the best model is
compared with the best baseline (see
:class:`graphrec.experiments.config.SignificanceConfig`) by a paired test over
users, and the outcome goes to ``significance.json`` and ``significance.md``.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.eval.evaluator import OVERALL
from graphrec.eval.significance import PairedResult, average_over_seeds, describe, paired_test
from graphrec.experiments.config import SignificanceConfig
from graphrec.io import atomic_write_bytes, atomic_write_text

logger = logging.getLogger(__name__)

PER_USER_DIR = "per-user"
SCENARIO_SEPARATOR = "::"


def _file_name(label: str, seed: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label)
    return f"{safe}-seed{seed}.npz"


def per_user_entries(per_user: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Flatten an evaluation's per-user values into the entries of one per-user file.

    The overall values keep their plain names (``users``, ``ndcg@10``, ...),
    and the values of scenario ``s`` are stored as ``s::users``,
    ``s::ndcg@10`` and so on, cold-start groups included.
    """
    entries = dict(per_user[OVERALL])
    for scenario, values in per_user.items():
        if scenario != OVERALL:
            entries.update({f"{scenario}{SCENARIO_SEPARATOR}{name}": array for name, array in values.items()})
    return entries


def per_user_file(output: Path, label: str, seed: int) -> Path:
    """Return the path of one run's per-user file in the run folder ``output``."""
    return output / PER_USER_DIR / _file_name(label, seed)


def save_per_user(output: Path, label: str, seed: int, per_user: dict[str, np.ndarray]) -> Path:
    """Write one run's per-user test values (and the ``users`` indices) atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(values) for name, values in per_user.items()})
    path = per_user_file(output, label, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_per_user(
    output: Path, label: str, seed: int, metric: str, scenario: str = OVERALL
) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the users and their test ``metric`` values in ``scenario``, or None when the file has none."""
    path = per_user_file(output, label, seed)
    if not path.exists():
        return None
    prefix = "" if scenario == OVERALL else scenario + SCENARIO_SEPARATOR
    with np.load(path) as data:
        if prefix + metric not in data.files:
            return None
        return data[prefix + "users"], data[prefix + metric]


def _pick_pair(means: pd.Series, ours: list[str]) -> tuple[str, str] | None:
    """Return (best model, best baseline) labels from mean test values, or None with fewer than two models."""
    ranked = means.sort_values(ascending=False)
    if len(ranked) < 2:
        return None
    if ours:
        mine = ranked[ranked.index.isin(ours)]
        others = ranked[~ranked.index.isin(ours)]
        if mine.empty or others.empty:
            return None
        return str(mine.index[0]), str(others.index[0])
    return str(ranked.index[0]), str(ranked.index[1])


def compare_best(metrics: pd.DataFrame, output: Path, settings: SignificanceConfig) -> PairedResult | None:
    """Test the best model against the best baseline on ``settings.metric``; None when not possible."""
    metric = settings.metric or "ndcg@10"
    test_rows = metrics[(metrics["split"] == "test") & (metrics["scenario"] == "all") & (metrics["metric"] == metric)]
    if test_rows.empty:
        logger.info("no significance test: test %s is not among the metrics", metric)
        return None
    means = test_rows.groupby("model", sort=False)["value"].mean()
    pair = _pick_pair(means, settings.ours)
    if pair is None:
        logger.info("no significance test: it needs a best model and a baseline, found %s", list(means.index))
        return None

    averaged = []
    for label in pair:
        seeds = sorted(test_rows.loc[test_rows["model"] == label, "seed"].astype(int))
        runs = [load_per_user(output, label, seed, metric) for seed in seeds]
        if any(run is None for run in runs):
            logger.warning("no significance test: per-user values of %s are missing in %s", label, output / PER_USER_DIR)
            return None
        averaged.append(average_over_seeds(runs))
    (users_a, values_a), (users_b, values_b) = averaged
    common, in_a, in_b = np.intersect1d(users_a, users_b, return_indices=True)
    return paired_test(values_a[in_a], values_b[in_b], settings.test, pair[0], pair[1], metric)


def write_significance(output: Path, result: PairedResult, alpha: float, n_seeds: int) -> str:
    """Write ``significance.json`` and ``significance.md``; return the statement."""
    statement = describe(result, alpha)
    seeds_note = f"Per-user values are averaged over {n_seeds} seed(s) before the test." if n_seeds > 1 else ""
    atomic_write_text(output / "significance.json", json.dumps({**result.to_dict(), "alpha": alpha}, indent=2))
    atomic_write_text(output / "significance.md", f"{statement} {seeds_note}".strip() + "\n")
    return statement
