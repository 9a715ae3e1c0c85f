"""Tables, paired significance tests and cumulative-reward plots of an RL run."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from graphrec.io import atomic_write_bytes
from graphrec.rl.replay import OVERALL

METRIC_COLUMNS = ["policy", "seed", "mode", "scenario", "metric", "value"]
SIGNIFICANCE_LEVEL = 0.05
#: Metrics shown in the summary table of each mode, in order.
SUMMARY_METRICS = {
    "replay": ["matched", "cumulative_reward", "reward_rate", "match_rate", "outside_candidates"],
    "simulator": ["cumulative_reward", "reward_rate", "expected_reward_rate", "cumulative_regret"],
}
TESTED_METRICS = ("reward_rate", "cumulative_reward")


def _cell(values: pd.Series, digits: int = 4) -> str:
    if len(values) == 0:
        return "n/a"
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def summary_table(metrics: pd.DataFrame, mode: str) -> str:
    """Return a Markdown table of one mode, overall: a row per policy, mean ± sample std over seeds."""
    frame = metrics[(metrics["mode"] == mode) & (metrics["scenario"] == OVERALL)]
    columns = SUMMARY_METRICS.get(mode, sorted(frame["metric"].unique()))
    lines = [
        "| policy | " + " | ".join(columns) + " |",
        "|---|" + "|".join(["---:"] * len(columns)) + "|",
    ]
    for policy in dict.fromkeys(frame["policy"]):
        block = frame[frame["policy"] == policy]
        cells = [_cell(block.loc[block["metric"] == metric, "value"]) for metric in columns]
        lines.append(f"| {policy} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def scenario_table(metrics: pd.DataFrame, mode: str, metric: str = "reward_rate") -> str:
    """Return a Markdown table of ``metric`` per policy and scenario, mean ± sample std over seeds."""
    frame = metrics[(metrics["mode"] == mode) & (metrics["metric"] == metric)]
    scenarios = list(dict.fromkeys(frame["scenario"]))
    lines = [
        "| policy | " + " | ".join(scenarios) + " |",
        "|---|" + "|".join(["---:"] * len(scenarios)) + "|",
    ]
    for policy in dict.fromkeys(frame["policy"]):
        block = frame[frame["policy"] == policy]
        cells = [_cell(block.loc[block["scenario"] == scenario, "value"]) for scenario in scenarios]
        lines.append(f"| {policy} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def paired_tests(metrics: pd.DataFrame, reference: str, metric_names=TESTED_METRICS) -> pd.DataFrame:
    """Test each policy against ``reference`` over seeds, per mode and metric (overall rows only).

    Two paired tests on the per-seed values: the paired t-test
    (``scipy.stats.ttest_rel``) and the Wilcoxon signed-rank test
    (``scipy.stats.wilcoxon``, exact for few seeds). With n seeds the
    two-sided Wilcoxon p-value cannot fall below ``2 / 2^n`` (0.0625 for 5
    seeds), so the verdict uses the t-test. Differences that are equal on every
    seed, up to rounding, have no variance, and both p-values are then NaN.
    """
    overall = metrics[metrics["scenario"] == OVERALL]
    records = []
    for mode in dict.fromkeys(overall["mode"]):
        for metric in metric_names:
            block = overall[(overall["mode"] == mode) & (overall["metric"] == metric)]
            table = block.pivot_table(index="seed", columns="policy", values="value", aggfunc="first")
            if reference not in table.columns:
                continue
            for policy in dict.fromkeys(block["policy"]):
                if policy == reference:
                    continue
                pair = table[[policy, reference]].dropna()
                records.append({"mode": mode, "metric": metric, "policy": policy, "reference": reference,
                                **_paired_test(pair[policy].to_numpy(), pair[reference].to_numpy())})
    return pd.DataFrame(records)


def _paired_test(values: np.ndarray, reference: np.ndarray) -> dict:
    differences = values - reference
    n = len(differences)
    t_statistic = t_p = wilcoxon_p = float("nan")
    # Differences equal up to rounding (a deterministic policy on a fixed base model) have no variance.
    spread = np.ptp(differences) if n else 0.0
    if n >= 2 and spread > 1e-9 * max(1.0, float(np.abs(differences).max())):
        result = stats.ttest_rel(values, reference)
        t_statistic, t_p = float(result.statistic), float(result.pvalue)
        if np.any(differences != 0):
            wilcoxon_p = float(stats.wilcoxon(values, reference).pvalue)

    if np.isnan(t_p):
        verdict = "untestable (fewer than 2 seeds or no variance over seeds)"
    elif t_p < SIGNIFICANCE_LEVEL:
        verdict = "higher than reference" if differences.mean() > 0 else "lower than reference"
    else:
        verdict = "no significant difference"
    return {
        "n_seeds": n,
        "mean": float(values.mean()) if n else float("nan"),
        "reference_mean": float(reference.mean()) if n else float("nan"),
        "mean_difference": float(differences.mean()) if n else float("nan"),
        "t_statistic": t_statistic,
        "t_p_value": t_p,
        "wilcoxon_p_value": wilcoxon_p,
        "verdict": verdict,
    }


def significance_table(tests: pd.DataFrame) -> str:
    """Return the paired tests as a Markdown table."""
    lines = [
        "| mode | metric | policy | mean | greedy mean | difference | t | p (t-test) | p (Wilcoxon) | verdict at 0.05 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in tests.itertuples():
        lines.append(
            f"| {row.mode} | {row.metric} | {row.policy} | {row.mean:.4f} | {row.reference_mean:.4f} | "
            f"{row.mean_difference:+.4f} | {row.t_statistic:.2f} | {row.t_p_value:.4f} | "
            f"{row.wilcoxon_p_value:.4f} | {row.verdict} |"
        )
    return "\n".join(lines) + "\n"


def save_cumulative_plot(
    curves: dict[str, dict[int, np.ndarray]], reference: str, path: Path, title: str
) -> None:
    """Plot cumulative reward against test events, and each policy's lead over ``reference``.

    ``curves`` maps each policy label to its cumulative-reward array per seed.
    The top panel shows the mean over seeds with a min-to-max band, the
    reference as a dashed black line. The bottom panel shows the mean over
    seeds of ``policy - reference`` on the same seed, where small differences
    between long curves become visible.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 7.0), sharex=True, height_ratios=(3, 2))
    for label, by_seed in curves.items():
        stacked = np.vstack(list(by_seed.values()))
        steps = np.arange(1, stacked.shape[1] + 1)
        style = {"color": "black", "linestyle": "--"} if label == reference else {}
        line = top.plot(steps, stacked.mean(axis=0), label=f"{label} ({len(by_seed)} seeds)", **style)[0]
        if len(by_seed) > 1:
            top.fill_between(steps, stacked.min(axis=0), stacked.max(axis=0), color=line.get_color(), alpha=0.15)

        seeds = [seed for seed in by_seed if seed in curves.get(reference, {})]
        if label != reference and seeds:
            lead = np.vstack([by_seed[seed] - curves[reference][seed] for seed in seeds])
            bottom.plot(steps, lead.mean(axis=0), color=line.get_color(), label=label)

    bottom.axhline(0.0, color="black", linestyle="--", linewidth=1)
    top.set_ylabel("cumulative reward")
    top.set_title(title)
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.set_xlabel("test events in time order")
    bottom.set_ylabel(f"minus {reference}, same seed")
    bottom.grid(alpha=0.3)
    fig.tight_layout()

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
