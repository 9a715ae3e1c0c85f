"""``graphrec rl evaluate``: bandit re-ranking of a base model's candidates, evaluated offline."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from graphrec.data.paths import resolve_data_root
from graphrec.errors import ConfigError, GraphrecError
from graphrec.io import atomic_write_text

logger = logging.getLogger("graphrec")

DATA_ROOT_HELP = "folder that contains dataset folders such as ml-100k/ (default: $GRAPHREC_DATA, else ~/.cache/graphrec/data)"


def add_commands(commands: argparse._SubParsersAction) -> None:
    rl = commands.add_parser("rl", help="contextual-bandit re-ranking with offline evaluation")
    rl_commands = rl.add_subparsers(dest="rl_command", required=True)
    evaluate = rl_commands.add_parser(
        "evaluate",
        help="replay and simulate LinUCB, Thompson sampling and epsilon-greedy re-ranking against greedy",
    )
    evaluate.add_argument("config", type=Path, help="RL YAML file, for example experiments/ml100k-rl.yaml")
    evaluate.add_argument("--data-root", type=Path, default=None, help=DATA_ROOT_HELP)
    evaluate.add_argument("--output", type=Path, default=None,
                          help="run folder for results (default: results/<config name>-<date>-<time>-<id>)")
    evaluate.add_argument("--seeds", type=int, default=None, help="number of seeds; overrides 'seeds' in the config")
    evaluate.add_argument("--overwrite", action="store_true", help="allow writing into a folder that contains results")
    evaluate.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")
    evaluate.add_argument("--quiet", action="store_true", help="hide progress bars and per-epoch log lines")
    evaluate.set_defaults(handler=run_rl_evaluate)


def _output_folder(args: argparse.Namespace) -> Path:
    from graphrec.experiments.provenance import new_run_id

    output = args.output or Path("results") / new_run_id(args.config.stem)
    if (output / "metrics.csv").exists() and not args.overwrite:
        raise GraphrecError(f"output folder {output} already contains results; choose another --output or pass --overwrite")
    output.mkdir(parents=True, exist_ok=True)
    return output


def run_rl_evaluate(args: argparse.Namespace) -> int:
    from graphrec.cli import _configure_logging, _remove_handlers
    from graphrec.rl.config import load_rl_config

    config = load_rl_config(args.config)
    if args.seeds is not None:
        if args.seeds < 1:
            raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
        config.seeds = args.seeds
    data_root = resolve_data_root(args.data_root)
    output = _output_folder(args)
    handlers = _configure_logging(output / "rl.log", args.quiet)
    try:
        return _evaluate(args, config, data_root, output)
    except GraphrecError as err:
        logger.error("%s", err, extra={"console": False})
        raise
    finally:
        _remove_handlers(handlers)


def _evaluate(args: argparse.Namespace, config, data_root: Path, output: Path) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from graphrec.experiments.provenance import provenance
    from graphrec.experiments.runner import METRIC_COLUMNS as BASE_COLUMNS
    from graphrec.experiments.runner import prepare_data
    from graphrec.rl.report import METRIC_COLUMNS
    from graphrec.rl.runner import run_rl

    logger.info("rl evaluate %s into %s", args.config, output)
    atomic_write_text(output / "config.yaml", yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
    rows: list[dict] = []

    def save_rows(run) -> None:
        rows.extend(run.rows)
        atomic_write_text(output / "metrics.csv", pd.DataFrame(rows, columns=METRIC_COLUMNS).to_csv(index=False))

    # logging_redirect_tqdm ignores the console level, so quiet runs skip it.
    redirect = contextlib.nullcontext() if args.quiet else logging_redirect_tqdm()
    with redirect:
        dataset = prepare_data(config, data_root, download=not args.no_download)
        seeds = [config.protocol.seed + i for i in range(config.seeds)]
        record = provenance(output.name, args.config, data_root, seeds, dataset.source_files)
        atomic_write_text(output / "run.json", json.dumps(record, indent=2))
        result = run_rl(config, dataset, output / "checkpoints", progress=not args.quiet, on_policy_run=save_rows)

    base = pd.DataFrame(result.base_rows, columns=BASE_COLUMNS)
    atomic_write_text(output / "base_metrics.csv", base.to_csv(index=False))
    report = _write_report(config, pd.DataFrame(rows, columns=METRIC_COLUMNS), result, output)
    print(report)
    print(f"results written to {output}")
    return 0


def _write_report(config, metrics: pd.DataFrame, result, output: Path) -> str:
    """Write significance.csv, results.md and one cumulative-reward PNG per mode; return results.md."""
    from graphrec.rl.config import REFERENCE_POLICY
    from graphrec.rl.report import paired_tests, save_cumulative_plot, scenario_table, significance_table, summary_table

    tests = paired_tests(metrics, REFERENCE_POLICY)
    atomic_write_text(output / "significance.csv", tests.to_csv(index=False))

    sections = [f"# {config.base_model.display_name} top {config.rl.candidates}, {config.seeds} seed(s)", ""]
    for mode in config.rl.modes:
        curves: dict[str, dict[int, np.ndarray]] = {}
        for run in result.policy_runs:
            if run.mode == mode:
                curves.setdefault(run.label, {})[run.seed] = run.cumulative_reward
        plot = output / f"cumulative-reward-{mode}.png"
        title = f"{mode}: cumulative reward, {config.base_model.display_name} top {config.rl.candidates}"
        save_cumulative_plot(curves, REFERENCE_POLICY, plot, title)
        logger.info("cumulative reward plot of %s written to %s", mode, plot)
        sections += [
            f"## {mode} (overall, mean ± sample std over seeds)", "", summary_table(metrics, mode),
            f"Reward rate per scenario ({mode}):", "", scenario_table(metrics, mode),
        ]
    sections += ["## Paired tests against greedy over seeds", ""]
    sections.append(significance_table(tests) if len(tests) else "No policy to test against greedy.\n")
    report = "\n".join(sections)
    atomic_write_text(output / "results.md", report)
    return report
