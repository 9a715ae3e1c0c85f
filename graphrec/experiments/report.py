"""Tables and plots built from ``metrics.csv`` rows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.io import atomic_write_bytes


def metric_order(metrics: list[str], ks: list[int]) -> list[str]:
    return [f"{m}@{k}" for k in ks for m in metrics]


def _cell(values: pd.Series) -> str:
    if len(values) == 1:
        return f"{values.iloc[0]:.4f}"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def markdown_table(metrics: pd.DataFrame, columns: list[str], split: str = "test") -> str:
    """Return a Markdown table of one split: a row per model and scenario, mean ± std over seeds."""
    frame = metrics[metrics["split"] == split]
    models = list(dict.fromkeys(frame["model"]))
    scenarios = list(dict.fromkeys(frame["scenario"]))
    n_seeds = frame["seed"].nunique()

    header = ["model", "scenario", *columns]
    lines = [
        f"{split} split, {n_seeds} seed(s)" + (", mean ± sample std" if n_seeds > 1 else ""),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---"] + ["---:"] * len(columns)) + "|",
    ]
    for scenario in scenarios:
        for model in models:
            cells = [model, scenario]
            block = frame[(frame["model"] == model) & (frame["scenario"] == scenario)]
            for metric in columns:
                values = block.loc[block["metric"] == metric, "value"]
                cells.append(_cell(values) if len(values) else "n/a")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def save_transfer_heatmap(weights: np.ndarray, names: tuple[str, ...], path: Path, title: str) -> None:
    """Plot cross-scenario transfer shares (rows: target scenario) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.5, 1.0 * len(names) + 1.8))
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=max(float(weights.max()), 1e-9))
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("source scenario (evidence from)")
    ax.set_ylabel("target scenario (scored in)")
    ax.set_title(title)
    for (row, col), value in np.ndenumerate(weights):
        ax.text(col, row, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.5 * weights.max() else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def save_scenario_bars(
    metrics: pd.DataFrame, metric: str, path: Path, title: str, split: str = "test", cold_start: bool = False
) -> bool:
    """Plot ``metric`` per scenario (groups) and model (bars) as a PNG; return False when there is nothing to plot.

    Bars are means over seeds, and error bars are the sample standard
    deviation when there are several seeds. Cold-start entries are left out,
    or, with ``cold_start=True``, they are the only groups plotted.
    """
    frame = metrics[(metrics["split"] == split) & (metrics["metric"] == metric)]
    is_cold = frame["scenario"].str.endswith("/cold-start")
    frame = frame[is_cold] if cold_start else frame[~is_cold]
    if frame.empty:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(frame["model"]))
    scenarios = list(dict.fromkeys(frame["scenario"]))
    grouped = frame.groupby(["scenario", "model"])["value"]
    means, stds = grouped.mean(), grouped.std(ddof=1).fillna(0.0)

    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(scenarios) * max(1, len(models) / 3)) + 2.0, 4.0))
    for m, model in enumerate(models):
        positions = [s + (m - (len(models) - 1) / 2) * width for s in range(len(scenarios))]
        heights = [means.get((scenario, model), np.nan) for scenario in scenarios]
        errors = [stds.get((scenario, model), 0.0) for scenario in scenarios]
        ax.bar(positions, heights, width, yerr=errors, capsize=2, label=model)
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=20, ha="right")
    ax.set_ylabel(f"{split} {metric}")
    ax.set_title(title)
    # Outside the axes, so that the legend never hides a bar.
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return True
