"""The ``graphrec`` command line."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from graphrec.data.paths import resolve_data_root
from graphrec.errors import GraphrecError
from graphrec.io import atomic_write_text

logger = logging.getLogger("graphrec")

VERSIONED_PACKAGES = ("graphrec", "torch", "dgl", "numpy", "scipy", "pandas")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphrec", description="Multi-scenario recommendation on graphs.")
    commands = parser.add_subparsers(dest="command", required=True)

    bench = commands.add_parser("benchmark", help="train and evaluate every model of a YAML config")
    bench.add_argument("config", type=Path, help="benchmark YAML file, for example benchmarks/configs/ml100k.yaml")
    bench.add_argument("--data-root", type=Path, default=None,
                       help="folder that contains dataset folders such as ml-100k/ (default: $GRAPHREC_DATA, "
                            "else ~/.cache/graphrec/data)")
    bench.add_argument("--output", type=Path, default=None,
                       help="run folder for results (default: results/<config name>-<date-time>)")
    bench.add_argument("--seeds", type=int, default=None, help="number of seeds; overrides 'seeds' in the config")
    bench.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty output folder")
    bench.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")
    bench.add_argument("--quiet", action="store_true", help="hide progress bars and per-epoch log lines")
    bench.set_defaults(handler=run_benchmark_command)
    return parser


def _output_folder(args: argparse.Namespace) -> Path:
    output = args.output or Path("results") / f"{args.config.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    if output.exists() and any(output.iterdir()) and not args.overwrite:
        raise GraphrecError(f"output folder {output} is not empty; choose another --output or pass --overwrite")
    output.mkdir(parents=True, exist_ok=True)
    return output


def _configure_logging(log_file: Path, quiet: bool) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(formatter)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(formatter)
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    root.addHandler(file_handler)
    root.addHandler(console)


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _provenance(config_path: Path, data_root: Path) -> dict:
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "config": str(config_path),
        "data_root": str(data_root),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv,
    }


def run_benchmark_command(args: argparse.Namespace) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from graphrec.experiments.config import load_config
    from graphrec.experiments.report import markdown_table, metric_order, save_transfer_heatmap
    from graphrec.experiments.runner import METRIC_COLUMNS, prepare_data, run_benchmark

    config = load_config(args.config)
    if args.seeds is not None:
        if args.seeds < 1:
            raise GraphrecError(f"--seeds must be at least 1, got {args.seeds}")
        config.seeds = args.seeds
    data_root = resolve_data_root(args.data_root)
    output = _output_folder(args)
    _configure_logging(output / "benchmark.log", args.quiet)
    logger.info("run folder: %s", output)

    atomic_write_text(output / "config.yaml", yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
    atomic_write_text(output / "run.json", json.dumps(_provenance(args.config, data_root), indent=2))

    rows: list[dict] = []

    def save_run(run) -> None:
        rows.extend(run.rows)
        frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
        atomic_write_text(output / "metrics.csv", frame.to_csv(index=False))
        if hasattr(run.model, "transfer_table"):
            path = output / f"transfer-{run.label}-seed{run.seed}.png"
            save_transfer_heatmap(
                run.model.transfer_table(), dataset.scenario_names, path,
                f"{run.label}: cross-scenario transfer shares",
            )
            logger.info("transfer weights of %s written to %s", run.label, path)

    # logging_redirect_tqdm keeps log lines from breaking the progress bars,
    # but its handler ignores the console level, so quiet runs skip it.
    redirect = contextlib.nullcontext() if args.quiet else logging_redirect_tqdm()
    with redirect:
        dataset = prepare_data(config, data_root, download=not args.no_download)
        metrics = run_benchmark(config, dataset, progress=not args.quiet, on_run=save_run)

    columns = metric_order(config.protocol.metrics, config.protocol.ks)
    table = markdown_table(metrics, columns, split="test")
    atomic_write_text(output / "table.md", table)
    print(table)
    print(f"results written to {output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except GraphrecError as err:
        logger.error("%s", err)
        print(f"graphrec: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
