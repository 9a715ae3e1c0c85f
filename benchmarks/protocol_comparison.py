"""Score the same trained models under full ranking and under sampled negatives, and compare the orderings.

    GRAPHREC_DATA=/path/to/data python benchmarks/protocol_comparison.py benchmarks/configs/ml100k-sampled.yaml

trains every model of the config once per seed on the config's split, with
:func:`graphrec.experiments.sampled_runner.run_sampled_model` (full-ranking
validation for early stopping), and scores each trained model on the test
split twice:

- full ranking over all items, training and validation items masked
  (:func:`graphrec.eval.evaluator.evaluate_model`);
- the sampled protocol: the held-out item against ``protocol.n_negatives``
  sampled negatives, through OGB's evaluator (:mod:`graphrec.eval.sampled`).

Both tables share the split and the trained weights, so they differ in
scoring only. The page (default ``benchmarks/results/protocol-comparison.md``)
lists both tables, the order of the models under each, and Kendall's tau and
Spearman's rho between the two orders (``scipy.stats``). The metric rows go
to ``RUN_DIR/metrics.csv`` and the negatives to
``RUN_DIR/sampled-negatives.npz``.

``--epochs N`` caps training for a quick check of the script, and the page
then marks its numbers as not results.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import platform
import shlex
import sys
import time
from pathlib import Path

import pandas as pd
import yaml
from scipy import stats

from graphrec.data.paths import resolve_data_root
from graphrec.data.split import TEST
from graphrec.errors import ConfigError
from graphrec.eval.evaluator import OVERALL, evaluate_model
from graphrec.experiments.config import BenchmarkConfig, load_config
from graphrec.experiments.provenance import git_commit, package_versions
from graphrec.experiments.runner import prepare_data
from graphrec.experiments.sampled_runner import run_sampled_model
from graphrec.graph.build import build_graph
from graphrec.io import atomic_write_text
from graphrec.resources import MemoryBudget

logger = logging.getLogger("protocol_comparison")

DEFAULT_CONFIG = Path("benchmarks/configs/ml100k-sampled.yaml")
DEFAULT_PAGE = Path("benchmarks/results/protocol-comparison.md")
FULL, SAMPLED = "full ranking", "sampled"
COLUMNS = ["protocol", "model", "seed", "metric", "value"]
LEAVE_LAST_OUT_NOTE = " (each user's newest interaction is test, the one before it valid)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Compare model orderings under full ranking and sampled negatives.")
    parser.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG,
                        help=f"benchmark YAML with protocol.kind sampled (default: {DEFAULT_CONFIG})")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder that contains dataset folders such as ml-100k/ (default: $GRAPHREC_DATA)")
    parser.add_argument("--output", type=Path, default=DEFAULT_PAGE, help=f"results page to write (default: {DEFAULT_PAGE})")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="folder for metrics.csv, the negatives and checkpoints "
                             "(default: results/protocol-comparison-<date>-<time>)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="cap every model's training epochs, for a quick check; the page marks its numbers as such")
    parser.add_argument("--models", nargs="+", default=None,
                        help="labels of the config's models to run (default: all of them)")
    parser.add_argument("--quiet", action="store_true", help="hide progress bars")
    return parser.parse_args(argv)


def select_models(config: BenchmarkConfig, labels: list[str] | None, epochs: int | None) -> None:
    """Keep only the models named in ``labels`` and cap their epochs, in place."""
    if config.protocol.kind != "sampled":
        raise ConfigError(f"protocol.kind is {config.protocol.kind!r}; this script needs a config with kind sampled")
    if labels is not None:
        known = [spec.display_name for spec in config.models]
        unknown = sorted(set(labels) - set(known))
        if unknown:
            raise ConfigError(f"--models names {unknown}, which the config does not list; its models are {known}")
        config.models = [spec for spec in config.models if spec.display_name in labels]
    if epochs is not None:
        if epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {epochs}")
        for spec in config.models:
            spec.train["epochs"] = min(spec.train["epochs"], epochs)


def full_ranking_rows(run, dataset, config: BenchmarkConfig) -> list[dict]:
    """Score a trained model on the test split under full ranking and return its overall rows."""
    protocol = config.protocol
    result = evaluate_model(
        run.model, dataset, TEST, tuple(protocol.ks), tuple(protocol.metrics), protocol.eval_batch_size,
        per_scenario=False, memory_budget=MemoryBudget.from_mb(protocol.memory_budget_mb),
    )
    return [
        {"protocol": FULL, "model": run.label, "seed": run.seed, "metric": metric, "value": value}
        for metric, value in result.means()[OVERALL].items()
    ]


def sampled_rows(run) -> list[dict]:
    return [
        {"protocol": SAMPLED, "model": row["model"], "seed": row["seed"], "metric": row["metric"], "value": row["value"]}
        for row in run.rows
        if row["split"] == "test"
    ]


def run_all(config: BenchmarkConfig, data_root: Path, run_dir: Path, progress: bool) -> tuple[pd.DataFrame, dict]:
    """Train every model and seed once, score each both ways, and return the rows and the dataset summary."""
    dataset = prepare_data(config, data_root)
    graph = build_graph(dataset)
    rows = []
    for offset in range(config.seeds):
        seed = config.protocol.seed + offset
        for index, spec in enumerate(config.models):
            started = time.perf_counter()
            run = run_sampled_model(config, index, dataset, graph, seed, progress, checkpoint_root=run_dir / "checkpoints")
            rows += sampled_rows(run) + full_ranking_rows(run, dataset, config)
            logger.info(
                "%s seed %d: restored epoch %s, %.1f s", spec.display_name, seed, run.best_epoch,
                time.perf_counter() - started,
            )
    return pd.DataFrame(rows, columns=COLUMNS), {"summary": dataset.summary()}


def mean_table(frame: pd.DataFrame, protocol: str, metrics: list[str]) -> pd.DataFrame:
    """Return a models-by-metrics table of one protocol's values, averaged over seeds."""
    part = frame[frame["protocol"] == protocol]
    table = part.pivot_table(index="model", columns="metric", values="value", aggfunc="mean", sort=False)
    return table[metrics]


def markdown(table: pd.DataFrame, headers: dict[str, str]) -> str:
    lines = ["| model | " + " | ".join(headers[c] for c in table.columns) + " |",
             "|---|" + "---:|" * len(table.columns)]
    for model, values in table.iterrows():
        lines.append(f"| {model} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    return "\n".join(lines)


def metric_pairs(k: int) -> list[tuple[str, str, str]]:
    """Return (name on the page, full-ranking metric, sampled metric) pairs compared at cutoff ``k``."""
    return [(f"NDCG@{k}", f"ndcg@{k}", f"ndcg@{k}"), (f"HR@{k}", f"hit@{k}", f"hit@{k}"), ("MRR", f"mrr@{k}", "mrr")]


def correlation_section(full: pd.DataFrame, sampled: pd.DataFrame, k: int) -> str:
    """Return the orderings and Kendall's tau and Spearman's rho between them, per metric pair."""
    models = list(full.index)
    lines = ["| metric | order under full ranking | order under sampled | Kendall's tau (p) | Spearman's rho (p) |",
             "|---|---|---|---:|---:|"]
    for name, full_metric, sampled_metric in metric_pairs(k):
        full_values = full.loc[models, full_metric]
        sampled_values = sampled.loc[models, sampled_metric]
        tau = stats.kendalltau(full_values, sampled_values)
        rho = stats.spearmanr(full_values, sampled_values)
        order_full = " > ".join(full_values.sort_values(ascending=False).index)
        order_sampled = " > ".join(sampled_values.sort_values(ascending=False).index)
        lines.append(
            f"| {name} | {order_full} | {order_sampled} | "
            f"{tau.statistic:.3f} ({tau.pvalue:.3f}) | {rho.statistic:.3f} ({rho.pvalue:.3f}) |"
        )
    return "\n".join(lines)


def page(config: BenchmarkConfig, frame: pd.DataFrame, facts: dict, command: str, epochs: int | None) -> str:
    protocol = config.protocol
    k = protocol.ks[0]
    full_metrics = [f"{m}@{kk}" for kk in protocol.ks for m in ("ndcg", "hit", "mrr") if m in protocol.metrics]
    sampled_metrics = [f"{m}@{kk}" for kk in protocol.ks for m in ("ndcg", "hit")] + ["mrr"]
    headers = {m: m.replace("ndcg", "NDCG").replace("hit", "HR").replace("mrr", "MRR") for m in full_metrics + sampled_metrics}
    full = mean_table(frame, FULL, full_metrics)
    sampled = mean_table(frame, SAMPLED, sampled_metrics)
    summary = facts["summary"]
    versions = package_versions()
    seeds = [protocol.seed + i for i in range(config.seeds)]

    warning = ""
    if epochs is not None:
        warning = (f"\n**Quick check only: training was capped at {epochs} epochs, so these numbers are not "
                   "results of the configured models.**\n")
    return f"""# {config.dataset.name}: full ranking versus {protocol.n_negatives} sampled negatives
{warning}
## Command and machine

```bash
{command}
```

Run on {time.strftime('%Y-%m-%d')} at commit `{(git_commit() or 'unknown')[:7]}` on {platform.machine()}
({platform.system()}), Python {platform.python_version()}, torch {versions['torch']}, DGL {versions['dgl']}.
Config: `{facts['config']}`; seeds {', '.join(map(str, seeds))}; values are means over the seeds.

## Data and protocol

| | value |
|---|---:|
| users / items / interactions | {summary['users']:,} / {summary['items']:,} / {summary['interactions']:,} |
| train / valid / test interactions | {summary['train']:,} / {summary['valid']:,} / {summary['test']:,} |

Split: `{protocol.split_method}`{LEAVE_LAST_OUT_NOTE if protocol.split_method == "leave-last-out" else ""}.
Each model is trained once per seed, with early stopping on full-ranking valid `{protocol.valid_metric}`,
and the same weights are scored both ways on the test split:

- **full ranking**: every item is ranked, with the user's training and validation items masked.
- **sampled**: the test item is ranked against {protocol.n_negatives} items the user never interacted
  with in any split, drawn uniformly with seed {protocol.seed}; every model ranks the same candidates.
  A negative that ties the test item counts as ranked above it. MRR is not truncated.

The sampled values come from `ogb.linkproppred.Evaluator("ogbl-citation2")` (ogb {ogb_version()}), which
ranks each positive against its own row of negatives. graphrec's metric code recomputes them and the run
stops if the two disagree. OGB's Hits@K datasets (ogbl-collab, ogbl-ppa, ogbl-ddi) instead count a
positive as a hit when it beats the K-th highest score of all negatives pooled over all positives, a
global threshold that is not the per-user HR@K of this protocol, so they are not used.

## Full ranking (test)

{markdown(full, headers)}

## Sampled, {protocol.n_negatives} negatives (test)

{markdown(sampled, headers)}

## Order of the models and rank correlation

Orders by the mean test value, best first. The MRR row pairs full ranking's MRR@{k} with the sampled
protocol's untruncated MRR. Rank correlation over {len(full)} models (scipy.stats, Kendall's tau-b);
with so few models the p-values are coarse.

{correlation_section(full, sampled, k)}
"""


def ogb_version() -> str:
    from importlib import metadata

    return metadata.version("ogb")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(args.config)
    select_models(config, args.models, args.epochs)
    run_dir = args.run_dir or Path("results") / f"protocol-comparison-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)

    frame, facts = run_all(config, resolve_data_root(args.data_root), run_dir, progress=not args.quiet)
    facts["config"] = str(args.config)
    atomic_write_text(run_dir / "metrics.csv", frame.to_csv(index=False))
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))

    command = "python benchmarks/protocol_comparison.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    text = page(config, frame, facts, command, args.epochs)
    atomic_write_text(args.output, text)
    print(text)
    print(f"page written to {args.output}; metric rows in {run_dir / 'metrics.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
