"""The ``graphrec`` command line."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import importlib.util
import json
import logging
import os
import pkgutil
import sys
from pathlib import Path

import pandas as pd
import yaml

from graphrec import __version__
from graphrec.data.paths import resolve_data_root
from graphrec.errors import ConfigError, GraphrecError
from graphrec.io import atomic_write_text

logger = logging.getLogger("graphrec")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphrec", description="Multi-scenario recommendation on graphs.")
    parser.add_argument("--version", action="version", version=f"graphrec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    bench = commands.add_parser("benchmark", help="train and evaluate every model of a YAML config")
    bench.add_argument("config", type=Path, nargs="?",
                       help="benchmark YAML file, for example benchmarks/configs/ml100k.yaml "
                            "(omit it with --resume or --reproduce)")
    bench.add_argument("--data-root", type=Path, default=None,
                       help="folder that contains dataset folders such as ml-100k/ (default: $GRAPHREC_DATA, "
                            "else ~/.cache/graphrec/data)")
    bench.add_argument("--output", type=Path, default=None,
                       help="run folder for results (default: results/<config name>-<date>-<time>-<id>)")
    bench.add_argument("--seeds", type=int, default=None, help="number of seeds; overrides 'seeds' in the config")
    bench.add_argument("--memory-budget-mb", type=float, default=None,
                       help="memory in MB that one evaluation batch may use; overrides protocol.memory_budget_mb")
    bench.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty output folder")
    bench.add_argument("--resume", type=Path, metavar="RUN_DIR", default=None,
                       help="continue an interrupted run in RUN_DIR from its config and checkpoints")
    bench.add_argument("--reproduce", type=Path, metavar="RUN_DIR", default=None,
                       help="re-run RUN_DIR's resolved config into a new folder and compare metrics.csv")
    bench.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")
    bench.add_argument("--quiet", action="store_true", help="hide progress bars and per-epoch log lines")
    bench.set_defaults(handler=run_benchmark_command)

    _add_command_modules(commands)
    return parser


def _add_command_modules(commands: argparse._SubParsersAction) -> None:
    """Let every ``graphrec/cli_*.py`` module add its sub-commands through ``add_commands``."""
    import graphrec as package

    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module.name.startswith("cli_"):
            importlib.import_module(f"graphrec.{module.name}").add_commands(commands)


def _configure_logging(log_file: Path, quiet: bool) -> list[logging.Handler]:
    """Send log records to ``log_file`` and the console; return the handlers to remove afterwards."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(formatter)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(formatter)
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    # main() prints the final error itself, so the console skips that record.
    console.addFilter(lambda record: getattr(record, "console", True))
    root.addHandler(file_handler)
    root.addHandler(console)
    return [file_handler, console]


def _remove_handlers(handlers: list[logging.Handler]) -> None:
    root = logging.getLogger()
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()


def _prepare_folder(args: argparse.Namespace, config_path: Path) -> tuple[Path, str]:
    """Pick the run folder and id; a non-empty folder needs --overwrite unless resuming."""
    from graphrec.experiments.provenance import new_run_id

    if args.resume is not None:
        return args.resume, args.resume.name
    run_id = new_run_id(config_path.stem)
    output = args.output or Path("results") / run_id
    # A folder from a run that failed before finishing any model contains no
    # results, so it may be reused. A folder with results needs --overwrite.
    has_results = (output / "metrics.csv").exists() or (output / "checkpoints").exists()
    if has_results and not args.overwrite:
        raise GraphrecError(
            f"output folder {output} already contains results; choose another --output or pass --overwrite"
        )
    output.mkdir(parents=True, exist_ok=True)
    return output, output.name


def _select_config(args: argparse.Namespace) -> Path:
    sources = [x for x in (args.config, args.resume, args.reproduce) if x is not None]
    if len(sources) != 1:
        raise ConfigError("give exactly one of CONFIG, --resume RUN_DIR or --reproduce RUN_DIR")
    if args.config is not None:
        return args.config
    run_dir = args.resume or args.reproduce
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a graphrec run folder: {path} is missing")
    return path


def _recorded_data_root(args: argparse.Namespace) -> Path | None:
    """Return the data folder that a resumed or reproduced run recorded in run.json, if it still exists."""
    run_dir = args.resume or args.reproduce
    if run_dir is None or os.environ.get("GRAPHREC_DATA"):
        return None
    try:
        recorded = Path(json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["data_root"])
    except (OSError, ValueError, KeyError):
        return None
    if recorded.is_dir():
        logger.info("using the data folder recorded in %s: %s", run_dir / "run.json", recorded)
        return recorded
    return None


def _finished_runs(metrics_path: Path) -> tuple[list[dict], set[tuple[str, int]]]:
    if not metrics_path.exists():
        return [], set()
    frame = pd.read_csv(metrics_path, float_precision="round_trip")
    return frame.to_dict("records"), {(str(m), int(s)) for m, s in zip(frame["model"], frame["seed"])}


def run_benchmark_command(args: argparse.Namespace) -> int:
    from graphrec.experiments.config import load_config

    config_path = _select_config(args)
    config = load_config(config_path)
    if args.seeds is not None:
        if args.seeds < 1:
            raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
        config.seeds = args.seeds
    if args.memory_budget_mb is not None:
        if not args.memory_budget_mb > 0:
            raise ConfigError(f"--memory-budget-mb must be positive, got {args.memory_budget_mb}")
        config.protocol.memory_budget_mb = args.memory_budget_mb
    data_root = resolve_data_root(args.data_root if args.data_root is not None else _recorded_data_root(args))
    output, run_id = _prepare_folder(args, config_path)
    handlers = _configure_logging(output / "benchmark.log", args.quiet)
    try:
        return _run_benchmark(args, config, config_path, data_root, output, run_id)
    except GraphrecError as err:
        logger.error("%s", err, extra={"console": False})
        raise
    finally:
        _remove_handlers(handlers)


def _run_benchmark(args, config, config_path: Path, data_root: Path, output: Path, run_id: str) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from graphrec.experiments.comparison import compare_best, save_per_user, write_significance
    from graphrec.experiments.provenance import provenance
    from graphrec.serve.idmaps import save_id_maps
    from graphrec.experiments.report import markdown_table, metric_order, save_scenario_bars, save_transfer_heatmap
    from graphrec.experiments.runner import METRIC_COLUMNS, prepare_data, run_benchmark

    logger.info("run %s in %s", run_id, output)

    rows, finished = _finished_runs(output / "metrics.csv") if args.resume else ([], set())
    atomic_write_text(output / "config.yaml", yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))

    def save_run(run) -> None:
        if run.per_user is not None:
            save_per_user(output, run.label, run.seed, run.per_user)
        rows.extend(run.rows)
        frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
        atomic_write_text(output / "metrics.csv", frame.to_csv(index=False))
        if hasattr(run.model, "transfer_table"):
            path = output / f"transfer-{run.label}-seed{run.seed}.png"
            save_transfer_heatmap(
                run.model.transfer_table(), dataset.scenario_names, path,
                f"{run.label}: cross-scenario transfer weights",
            )
            logger.info("transfer weights of %s written to %s", run.label, path)

    # logging_redirect_tqdm keeps log lines from breaking the progress bars,
    # but its handler ignores the console level, so quiet runs skip it.
    redirect = contextlib.nullcontext() if args.quiet else logging_redirect_tqdm()
    with redirect:
        dataset = prepare_data(config, data_root, download=not args.no_download)
        # graphrec serve checks these id maps against the dataset it rebuilds.
        save_id_maps(output, dataset)
        seeds = [config.protocol.seed + i for i in range(config.seeds)]
        record = provenance(run_id, config_path, data_root, seeds, dataset.source_files)
        atomic_write_text(output / "run.json", json.dumps(record, indent=2))
        run_benchmark(
            config, dataset, progress=not args.quiet, on_run=save_run,
            checkpoint_root=output / "checkpoints", resume=args.resume is not None, finished=finished,
        )

    metrics = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    if config.protocol.kind == "topk":
        columns = metric_order(config.protocol.metrics, config.protocol.ks)
    else:
        columns = list(dict.fromkeys(metrics["metric"]))
    table = markdown_table(metrics, columns, split="test")
    atomic_write_text(output / "table.md", table)
    print(table)
    bar_metric = config.significance.metric or "ndcg@10"
    if config.protocol.kind == "topk" and save_scenario_bars(
        metrics, bar_metric, output / "scenarios.png", f"{config.dataset.name}, {config.scenario}: test {bar_metric} per scenario"
    ):
        logger.info("per-scenario bar chart written to %s", output / "scenarios.png")
    cold_title = f"{config.dataset.name}, {config.scenario}: test {bar_metric} of cross-scenario cold-start users"
    if config.protocol.kind == "topk" and save_scenario_bars(
        metrics, bar_metric, output / "scenarios-cold-start.png", cold_title, cold_start=True
    ):
        logger.info("cold-start bar chart written to %s", output / "scenarios-cold-start.png")
    significance = compare_best(metrics, output, config.significance)
    if significance is not None:
        statement = write_significance(output, significance, config.significance.alpha, config.seeds)
        logger.info("%s", statement)
        print(statement)
    print(f"results written to {output}")
    if args.reproduce is not None:
        return _compare_with_original(args.reproduce / "metrics.csv", output / "metrics.csv")
    return 0


def _compare_with_original(original: Path, repeated: Path) -> int:
    """Print whether a reproduced run matches the original; return 0 when identical, else 1."""
    if original.read_bytes() == repeated.read_bytes():
        print(f"reproduced: {repeated} is identical to {original}")
        return 0
    before = pd.read_csv(original)
    after = pd.read_csv(repeated)
    keys = ["model", "seed", "split", "scenario", "metric"]
    merged = before.merge(after, on=keys, how="outer", suffixes=("_original", "_reproduced"))
    differ = merged[~((merged["value_original"] - merged["value_reproduced"]).abs() <= 1e-12)]
    print(f"not reproduced: {len(differ)} of {len(merged)} metric rows differ from {original}")
    print(differ.head(20).to_string(index=False))
    return 1


def load_plugins(spec: str) -> list[str]:
    """Import the modules in ``spec`` (``GRAPHREC_PLUGINS``): module names or ``.py`` files, separated by ``os.pathsep``.

    Importing a module registers its models and layers, so code outside the
    package can be used from configs. Returns the imported module names.
    """
    loaded = []
    for entry in filter(None, (part.strip() for part in spec.split(os.pathsep))):
        if entry.endswith(".py"):
            path = Path(entry)
            if not path.is_file():
                raise ConfigError(f"GRAPHREC_PLUGINS names {entry}, which is not a file")
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[path.stem] = module
            module_spec.loader.exec_module(module)
        else:
            try:
                importlib.import_module(entry)
            except ImportError as err:
                raise ConfigError(f"GRAPHREC_PLUGINS names module {entry!r}, which failed to import: {err}") from None
        loaded.append(entry)
    return loaded


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        load_plugins(os.environ.get("GRAPHREC_PLUGINS", ""))
        return args.handler(args)
    except GraphrecError as err:
        print(f"graphrec: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
