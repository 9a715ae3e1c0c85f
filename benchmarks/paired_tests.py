"""Paired tests over users between chosen pairs of models of one benchmark run.

A benchmark run compares only its best model with its best baseline. This
script tests any pairs, from the run's per-user files (averaged over seeds):

    python benchmarks/paired_tests.py RUN_DIR --pairs scenario-gnn:lightgcn scenario-gnn+text:scenario-gnn

and prints a Markdown table with both means, the difference and the p-value.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.eval.significance import TESTS, average_over_seeds, paired_test
from graphrec.experiments.comparison import load_per_user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--pairs", nargs="+", required=True, help="MODEL_A:MODEL_B labels of the run")
    parser.add_argument("--metric", default="ndcg@10")
    parser.add_argument("--test", choices=TESTS, default="wilcoxon")
    args = parser.parse_args()

    metrics = pd.read_csv(args.run_dir / "metrics.csv")
    rows = metrics[(metrics["split"] == "test") & (metrics["scenario"] == "all") & (metrics["metric"] == args.metric)]
    print(f"| A | B | {args.metric} A | {args.metric} B | difference | users | p ({args.test}) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for pair in args.pairs:
        a, b = pair.split(":")
        averaged = []
        for label in (a, b):
            seeds = sorted(rows.loc[rows["model"] == label, "seed"].astype(int))
            if not seeds:
                raise SystemExit(f"model {label!r} has no test {args.metric} in {args.run_dir}")
            averaged.append(average_over_seeds([load_per_user(args.run_dir, label, s, args.metric) for s in seeds]))
        (users_a, values_a), (users_b, values_b) = averaged
        _, in_a, in_b = np.intersect1d(users_a, users_b, return_indices=True)
        result = paired_test(values_a[in_a], values_b[in_b], args.test, a, b, args.metric)
        print(f"| {a} | {b} | {result.mean_a:.4f} | {result.mean_b:.4f} | {result.difference:+.4f} | "
              f"{result.n_users} | {result.p_value:.3g} |")


if __name__ == "__main__":
    main()
