"""Put a run's overall test metrics next to reported reference numbers.

    python benchmarks/compare.py RUN_DIR benchmarks/reported/ml100k-recbole.yaml

prints a Markdown table with one row per model: ours (mean ± std over seeds),
reported, and the difference. Models missing on either side show "n/a".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml


def comparison_table(metrics: pd.DataFrame, reported: dict, metric_names: list[str]) -> str:
    split = reported.get("split", "test")
    overall = metrics[(metrics["split"] == split) & (metrics["scenario"] == "all")]
    models = list(dict.fromkeys(list(overall["model"]) + list(reported["models"])))

    header = ["model"]
    for name in metric_names:
        header += [f"{name} ours", f"{name} reported", "diff"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]

    for model in models:
        cells = [model]
        for name in metric_names:
            ours = overall.loc[(overall["model"] == model) & (overall["metric"] == name), "value"]
            theirs = reported["models"].get(model, {}).get(name)
            if len(ours) == 0:
                ours_cell = "n/a"
            elif len(ours) == 1:
                ours_cell = f"{ours.iloc[0]:.4f}"
            else:
                ours_cell = f"{ours.mean():.4f} ± {ours.std(ddof=1):.4f}"
            diff = f"{ours.mean() - theirs:+.4f}" if len(ours) and theirs is not None else "n/a"
            cells += [ours_cell, "n/a" if theirs is None else f"{theirs:.4f}", diff]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Compare a run with reported numbers.")
    parser.add_argument("run_dir", type=Path, help="run folder written by 'graphrec benchmark'")
    parser.add_argument("reported", type=Path, help="YAML file of reported numbers")
    parser.add_argument("--metrics", nargs="+", default=["ndcg@10", "recall@10"], help="metric columns")
    args = parser.parse_args()

    metrics = pd.read_csv(args.run_dir / "metrics.csv")
    reported = yaml.safe_load(args.reported.read_text(encoding="utf-8"))
    print(f"Reference: {reported.get('source', args.reported.name)}\n")
    print(comparison_table(metrics, reported, args.metrics))


if __name__ == "__main__":
    main()
