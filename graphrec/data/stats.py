"""Summary statistics of a RawData: counts, density, ratings and degree plots."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.data.scenarios import ScenarioAssignment, describe_scenarios
from graphrec.data.tables import RawData
from graphrec.errors import DataError
from graphrec.io import atomic_write_bytes


def dataset_stats(raw: RawData, assignment: ScenarioAssignment | None = None) -> dict:
    """Count the users, items and interactions of ``raw`` and summarise its ratings.

    Returns a dict with these keys:

    - ``name``: the dataset name.
    - ``users`` and ``items``: the distinct ids that have interactions.
    - ``items_in_table`` and ``users_in_table``: the rows of the side tables.
      ``users_in_table`` is None when there is no user table.
    - ``interactions``: the rows of the interaction table.
    - ``density``: interactions / (users * items), or 0.0 without interactions.
    - ``rating_histogram``: each rating value (float) mapped to its count, in
      ascending order of value. It is empty without a ``rating`` column.
    - ``scenarios``: only with ``assignment``, the output of describe_scenarios.
    """
    frame = raw.interactions
    n_users = int(frame["user_id"].nunique())
    n_items = int(frame["item_id"].nunique())
    n_interactions = len(frame)
    density = n_interactions / (n_users * n_items) if n_users and n_items else 0.0

    histogram = {}
    if "rating" in frame.columns:
        counts = frame["rating"].value_counts(dropna=False).sort_index()
        histogram = {float(value): int(count) for value, count in counts.items()}

    stats = {
        "name": raw.name,
        "users": n_users,
        "items": n_items,
        "items_in_table": len(raw.items),
        "users_in_table": None if raw.users is None else len(raw.users),
        "interactions": n_interactions,
        "density": density,
        "rating_histogram": histogram,
    }
    if assignment is not None:
        stats["scenarios"] = describe_scenarios(assignment, raw)
    return stats


def stats_markdown(stats: dict) -> str:
    """Format the output of dataset_stats as Markdown tables."""
    users_in_table = stats["users_in_table"]
    lines = [
        f"## Dataset {stats['name']}",
        "",
        "| statistic | value |",
        "|---|---:|",
        f"| users with interactions | {stats['users']:,} |",
        f"| items with interactions | {stats['items']:,} |",
        f"| items in the item table | {stats['items_in_table']:,} |",
        f"| users in the user table | {'none' if users_in_table is None else f'{users_in_table:,}'} |",
        f"| interactions | {stats['interactions']:,} |",
        f"| density | {stats['density']:.6f} |",
    ]

    if stats["rating_histogram"]:
        lines += ["", "| rating | interactions |", "|---:|---:|"]
        lines += [f"| {value:g} | {count:,} |" for value, count in stats["rating_histogram"].items()]

    scenarios = stats.get("scenarios")
    if scenarios is not None:
        lines += [
            "",
            f"Scenario spec `{scenarios['spec']}` ({scenarios['level']} level):",
            "",
            "| scenario | interactions | users | items |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {row['name']} | {row['interactions']:,} | {row['users']:,} | {row['items']:,} |"
            for row in scenarios["scenarios"]
        ]
    return "\n".join(lines) + "\n"


def save_degree_plot(raw: RawData, path: str | Path) -> None:
    """Write a PNG of the user and item degree distributions on log-log axes.

    The degree of a user or item is its number of interaction rows. Each panel
    plots, for every degree that occurs, how many users or items have it. The
    file is replaced atomically. Raises DataError when there are no
    interactions to plot.
    """
    # The Agg canvas is used directly, so the global pyplot backend and state stay untouched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    frame = raw.interactions
    if frame.empty:
        raise DataError(f"dataset {raw.name!r} has no interactions, so there is no degree distribution to plot")

    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    for axis, column, label in ((axes[0], "user_id", "users"), (axes[1], "item_id", "items")):
        degrees, counts = _degree_distribution(frame[column])
        axis.scatter(degrees, counts, s=10)
        axis.set_xscale("log")
        axis.set_yscale("log")
        # Over less than two decades matplotlib labels the minor ticks too, and those labels overlap.
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.yaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("degree (interactions)")
        axis.set_ylabel(f"number of {label}")
        axis.set_title(f"{raw.name}: {label}")
        axis.grid(True, which="major", alpha=0.3)
    figure.tight_layout()

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    atomic_write_bytes(path, buffer.getvalue())


def _degree_distribution(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct degrees in ascending order and how many ids have each."""
    degrees, counts = np.unique(ids.value_counts().to_numpy(), return_counts=True)
    return degrees, counts
