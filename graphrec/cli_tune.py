"""``graphrec tune``: search each model's declared hyper-parameter space on the validation split."""

from __future__ import annotations

import argparse
import copy
import logging
from pathlib import Path

import pandas as pd
import yaml

from graphrec.data.paths import resolve_data_root
from graphrec.errors import ConfigError, GraphrecError
from graphrec.io import atomic_write_text

logger = logging.getLogger("graphrec")


def add_commands(commands: argparse._SubParsersAction) -> None:
    tune = commands.add_parser(
        "tune", help="search hyper-parameters (grid or Bayesian) on the validation split",
        description="Search the space each model declares under 'search' in CONFIG. Every model gets the same "
                    "trial budget; trials are scored on the validation split only. The output folder gets "
                    "trials.csv, tuning.md and best.yaml, a config with the best settings that "
                    "'graphrec benchmark' runs as it is.",
    )
    tune.add_argument("config", type=Path, help="benchmark YAML file whose models declare 'search' spaces")
    tune.add_argument("--method", choices=("grid", "bayes"), default="grid",
                      help="grid: every listed combination (a seeded subset when larger than the budget); "
                           "bayes: optuna's TPE sampler, seeded with protocol.seed (default: grid)")
    tune.add_argument("--trials", type=int, default=20, help="trial budget per model (default: 20)")
    tune.add_argument("--folds", type=int, default=1,
                      help="K > 1 scores each trial by its mean validation value over K per-user folds "
                           "(split_method kfold); default 1 keeps the config's split")
    tune.add_argument("--data-root", type=Path, default=None,
                      help="folder that contains dataset folders such as ml-100k/ (default: $GRAPHREC_DATA, "
                           "else ~/.cache/graphrec/data)")
    tune.add_argument("--output", type=Path, default=None,
                      help="folder for the results (default: results/tune-<config name>-<date>-<time>-<id>)")
    tune.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")
    tune.add_argument("--quiet", action="store_true", help="hide progress bars and per-trial log lines")
    tune.set_defaults(handler=run_tune_command)


def _fold_configs(config, folds: int) -> list:
    if folds == 1:
        return [config]
    if folds < 2:
        raise ConfigError(f"--folds must be 1 or more, got {folds}")
    if config.protocol.split_method != "random":
        logger.warning("--folds %d replaces protocol.split_method %r with kfold", folds, config.protocol.split_method)
    configs = []
    for fold in range(folds):
        fold_config = copy.deepcopy(config)
        fold_config.protocol.split_method = "kfold"
        fold_config.protocol.folds = folds
        fold_config.protocol.fold = fold
        configs.append(fold_config)
    return configs


def run_tune_command(args: argparse.Namespace) -> int:
    from graphrec.cli import _configure_logging, _remove_handlers
    from graphrec.experiments.config import load_config
    from graphrec.experiments.provenance import new_run_id

    config = load_config(args.config)
    if args.trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {args.trials}")
    output = args.output or Path("results") / new_run_id(f"tune-{args.config.stem}")
    if (output / "trials.csv").exists():
        raise GraphrecError(f"output folder {output} already contains trials.csv; choose another --output")
    output.mkdir(parents=True, exist_ok=True)
    handlers = _configure_logging(output / "tune.log", args.quiet)
    try:
        return _tune(args, config, resolve_data_root(args.data_root), output)
    except GraphrecError as err:
        logger.error("%s", err, extra={"console": False})
        raise
    finally:
        _remove_handlers(handlers)


def _tune(args: argparse.Namespace, config, data_root: Path, output: Path) -> int:
    from graphrec.experiments.runner import prepare_data
    from graphrec.experiments.tuning import TRIAL_COLUMNS, Tuner, best_config, summary_markdown

    datasets = [prepare_data(c, data_root, download=not args.no_download) for c in _fold_configs(config, args.folds)]
    atomic_write_text(output / "config.yaml", yaml.safe_dump(_plain(config), sort_keys=False))

    def save(result) -> None:
        frame = pd.DataFrame([t.row() for t in result.trials], columns=TRIAL_COLUMNS)
        atomic_write_text(output / "trials.csv", frame.to_csv(index=False))
        atomic_write_text(output / "best.yaml", yaml.safe_dump(best_config(config, result), sort_keys=False))

    tuner = Tuner(config, datasets, args.method, args.trials, progress=not args.quiet, on_trial=save)
    result = tuner.run()
    summary = summary_markdown(config, result, args.method, args.trials, args.folds)
    atomic_write_text(output / "tuning.md", summary)
    print(summary)
    print(f"trials, best settings (best.yaml) and this table written to {output}")
    return 0


def _plain(config) -> dict:
    import dataclasses

    return dataclasses.asdict(config)
