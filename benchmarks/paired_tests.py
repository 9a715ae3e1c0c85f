"""Paired tests over users between chosen pairs of models of benchmark runs.

A benchmark run compares only its best model with its best baseline. This
script tests any pairs, from the runs' per-user files (averaged over seeds):

    python benchmarks/paired_tests.py RUN_DIR --pairs scenario-gnn:lightgcn scenario-gnn+text:scenario-gnn

Models of other runs on the same split can take part: name those runs with
``--with``, and a label missing from RUN_DIR is looked up there. The script
rejects runs whose dataset, preprocessing, scenario spec, split settings or
id maps differ. Each pair uses only the seeds both models ran, so a model
with 5 seeds is compared with one with 3 on those 3.

``--scenario`` tests the users of one scenario or cold-start group instead
of all users. The script prints a Markdown table with both means, the
difference, the seeds and the p-value.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from graphrec.eval.significance import TESTS, average_over_seeds, paired_test
from graphrec.experiments.comparison import load_per_user, per_user_file

# Protocol settings that change which interactions land in which split.
SPLIT_KEYS = (
    "kind", "split_method", "split", "split_files", "unseen_policy", "canonical_split",
    "folds", "fold", "valid_ratio", "ctr_threshold", "n_negatives", "seed",
)


def split_identity(run_dir: Path) -> dict:
    """Return what must match for two runs to share a split."""
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise SystemExit(f"{run_dir} is not a benchmark run folder: {config_path} is missing")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    protocol = config.get("protocol", {})
    identity = {
        "dataset": config.get("dataset"),
        "preprocess": config.get("preprocess"),
        "scenario": config.get("scenario"),
        "protocol": {key: protocol.get(key) for key in SPLIT_KEYS},
    }
    # Older runs have no holdout_share, and only this split method reads it.
    if protocol.get("split_method") == "scenario-holdout":
        identity["protocol"]["holdout_share"] = protocol.get("holdout_share")
    maps = run_dir / "id-maps.json"
    if maps.is_file():
        identity["id-maps"] = json.loads(maps.read_text(encoding="utf-8"))
    return identity


def _flatten(identity: dict, prefix: str = "") -> dict[str, object]:
    """Return ``{"protocol.split_method": ..., ...}`` from nested settings, so that a difference names its key."""
    flat = {}
    for key, value in identity.items():
        name = prefix + key
        if isinstance(value, dict) and key != "id-maps":
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def check_same_split(main_run: Path, others: list[Path]) -> None:
    reference = _flatten(split_identity(main_run))
    for other in others:
        identity = _flatten(split_identity(other))
        differing = sorted(key for key in reference.keys() | identity.keys() if reference.get(key) != identity.get(key))
        if differing:
            raise SystemExit(
                f"{other} does not share the split of {main_run}: they differ in {', '.join(differing)}. "
                "Compare only runs with the same dataset, preprocessing, scenario spec and split settings "
                "(ks, metrics and model settings may differ)."
            )


def model_seeds(run_dirs: list[Path], metric: str) -> dict[str, tuple[Path, list[int]]]:
    """Map each model label to the first run that has it and the seeds with a test ``metric`` row there."""
    found: dict[str, tuple[Path, list[int]]] = {}
    for run_dir in run_dirs:
        metrics = pd.read_csv(run_dir / "metrics.csv")
        test = metrics[(metrics["split"] == "test") & (metrics["scenario"] == "all")]
        if metric not in set(test["metric"]):
            computed = ", ".join(sorted(set(test["metric"])))
            raise SystemExit(f"metric {metric!r} not found in {run_dir / 'metrics.csv'}; computed metrics: {computed}")
        rows = test[test["metric"] == metric]
        for label, group in rows.groupby("model"):
            label = str(label)
            if label in found:
                print(f"warning: model {label!r} found in {found[label][0]} and in {run_dir}. "
                      f"Using {found[label][0]}, the first run given.", file=sys.stderr)
                continue
            found[label] = (run_dir, sorted(group["seed"].astype(int)))
    return found


def _scenario_groups(run_dir: Path, label: str, seed: int) -> list[str]:
    """Return the scenario and cold-start groups stored in one per-user file."""
    path = per_user_file(run_dir, label, seed)
    if not path.is_file():
        return []
    with np.load(path) as data:
        return sorted(name[: -len("::users")] for name in data.files if name.endswith("::users"))


def compare(models: dict[str, tuple[Path, list[int]]], a: str, b: str, metric: str, test: str, scenario: str = "all"):
    """Run the paired test of ``a`` against ``b`` on their common seeds; return the result and the seeds."""
    for label in (a, b):
        if label not in models:
            raise SystemExit(f"model {label!r} not found in the given runs; known models: {', '.join(sorted(models))}")
    seeds = sorted(set(models[a][1]) & set(models[b][1]))
    if not seeds:
        raise SystemExit(f"{a!r} and {b!r} have no seed in common")

    averaged = []
    for label in (a, b):
        run_dir = models[label][0]
        runs = [load_per_user(run_dir, label, seed, metric, scenario) for seed in seeds]
        if any(run is None for run in runs):
            groups = _scenario_groups(run_dir, label, seeds[0])
            known = ", ".join(["all", *groups]) if groups else "only 'all' (the run predates per-scenario files)"
            raise SystemExit(
                f"scenario {scenario!r} not found in the per-user files of {label!r} in {run_dir} "
                f"(seeds {seeds}); stored groups: {known}"
            )
        averaged.append(average_over_seeds(runs))

    (users_a, values_a), (users_b, values_b) = averaged
    _, in_a, in_b = np.intersect1d(users_a, users_b, return_indices=True)
    if len(in_a) < 2:
        raise SystemExit(
            f"{a!r} and {b!r} share {len(in_a)} user(s) in scenario {scenario!r}; a paired test needs at least 2"
        )
    return paired_test(values_a[in_a], values_b[in_b], test, a, b, metric), seeds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--pairs", nargs="+", required=True, help="MODEL_A:MODEL_B labels of the runs")
    parser.add_argument("--with", dest="others", nargs="+", type=Path, default=[], metavar="RUN_DIR",
                        help="further runs on the same split whose models may appear in --pairs; "
                             "a label found in several runs comes from the first one given")
    parser.add_argument("--metric", default="ndcg@10")
    parser.add_argument("--scenario", default="all",
                        help="users to test on: all (default), a scenario name or a '<scenario>/cold-start' group")
    parser.add_argument("--test", choices=TESTS, default="wilcoxon")
    args = parser.parse_args(argv)

    check_same_split(args.run_dir, args.others)
    models = model_seeds([args.run_dir, *args.others], args.metric)

    lines = []
    for pair in args.pairs:
        if pair.count(":") != 1:
            raise SystemExit(f"invalid --pairs value {pair!r}: expected MODEL_A:MODEL_B")
        a, b = pair.split(":")
        result, seeds = compare(models, a, b, args.metric, args.test, args.scenario)
        lines.append(f"| {a} | {b} | {result.mean_a:.4f} | {result.mean_b:.4f} | {result.difference:+.4f} | "
                     f"{len(seeds)} | {result.n_users} | {result.p_value:.3g} |")

    if args.scenario != "all":
        print(f"Scenario: {args.scenario}\n")
    print(f"| A | B | {args.metric} A | {args.metric} B | difference | seeds | users | p ({args.test}) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
