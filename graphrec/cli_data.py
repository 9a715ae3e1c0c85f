"""``graphrec data stats``, ``graphrec data export-split``, ``graphrec data export`` and ``graphrec scenarios describe``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from graphrec.data.paths import resolve_data_root

if TYPE_CHECKING:
    from graphrec.experiments.config import BenchmarkConfig

# Settings of `graphrec data export` without --config. The export ignores
# scenarios, but loading needs a spec, and weekday-weekend reads only the
# timestamps that every dataset has.
DEFAULT_EXPORT_NEGATIVES = 100
DEFAULT_EXPORT_SEED = 2020
DEFAULT_EXPORT_SCENARIO = "weekday-weekend"

DATA_ROOT_HELP = "folder that contains dataset folders such as ml-100k/ (default: $GRAPHREC_DATA, else ~/.cache/graphrec/data)"


def add_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="inspect datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    stats = data_commands.add_parser("stats", help="print dataset statistics and write a degree plot")
    stats.add_argument("name", help="dataset name, for example ml-100k")
    stats.add_argument("--data-root", type=Path, default=None, help=DATA_ROOT_HELP)
    stats.add_argument("--format", choices=("md", "json"), default="md", help="output format (default: md)")
    stats.add_argument("--scenario", default=None, help="also count interactions per scenario of this spec")
    stats.add_argument("--plot", type=Path, default=None,
                       help="PNG path for the degree distributions (default: <name>-degrees.png)")
    stats.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")
    stats.set_defaults(handler=run_data_stats)

    export = data_commands.add_parser(
        "export-split", help="write a config's split as train.csv, valid.csv and test.csv with raw ids"
    )
    export.add_argument("config", type=Path, help="benchmark YAML file whose dataset and split to export")
    export.add_argument("--output", type=Path, required=True, help="folder for the three CSV files")
    export.add_argument("--data-root", type=Path, default=None, help=DATA_ROOT_HELP)
    export.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")
    export.set_defaults(handler=run_export_split)

    export_graph = data_commands.add_parser(
        "export", help="write a dataset's split graph and sampled negatives in OGB's link-prediction layout"
    )
    export_graph.add_argument("name", help="dataset name, for example ml-100k")
    export_graph.add_argument("--format", choices=("ogb",), required=True, help="output layout (only ogb)")
    export_graph.add_argument("--output", type=Path, required=True, help="folder to write the dataset into")
    export_graph.add_argument(
        "--config", type=Path, default=None,
        help="benchmark YAML file whose preprocessing, split, protocol.n_negatives and protocol.seed to use "
             f"(default: split_method leave-last-out, {DEFAULT_EXPORT_NEGATIVES} negatives, seed {DEFAULT_EXPORT_SEED}, "
             f"scenario spec {DEFAULT_EXPORT_SCENARIO})",
    )
    export_graph.add_argument("--data-root", type=Path, default=None, help=DATA_ROOT_HELP)
    export_graph.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")
    export_graph.set_defaults(handler=run_export)

    scenarios = commands.add_parser("scenarios", help="inspect scenario specs")
    scenario_commands = scenarios.add_subparsers(dest="scenarios_command", required=True)
    describe = scenario_commands.add_parser(
        "describe", help="print counts per scenario and the user and item overlap between scenarios"
    )
    describe.add_argument("config", type=Path, help="benchmark YAML file whose dataset and scenario to describe")
    describe.add_argument("--data-root", type=Path, default=None, help=DATA_ROOT_HELP)
    describe.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")
    describe.set_defaults(handler=run_scenarios_describe)


def run_data_stats(args: argparse.Namespace) -> int:
    from graphrec.data.registry import load_dataset
    from graphrec.data.scenarios import assign_scenarios
    from graphrec.data.stats import dataset_stats, save_degree_plot, stats_markdown

    raw = load_dataset(args.name, resolve_data_root(args.data_root), download=not args.no_download)
    assignment = assign_scenarios(args.scenario, raw) if args.scenario else None
    stats = dataset_stats(raw, assignment)
    plot = args.plot or Path(f"{args.name}-degrees.png")
    save_degree_plot(raw, plot)

    if args.format == "json":
        print(json.dumps(stats, indent=2, default=str))
    else:
        print(stats_markdown(stats))
        print(f"degree plot written to {plot}")
    return 0


def run_export_split(args: argparse.Namespace) -> int:
    from graphrec.data.splitting import export_split
    from graphrec.experiments.config import load_config
    from graphrec.experiments.runner import prepare_data

    config = load_config(args.config)
    dataset = prepare_data(config, resolve_data_root(args.data_root), download=not args.no_download)
    for path in export_split(dataset, args.output):
        print(f"wrote {path}")
    return 0


def _export_config(args: argparse.Namespace) -> BenchmarkConfig:
    """Return the config that sets the exported split: --config, or the leave-last-out defaults."""
    from graphrec.errors import ConfigError
    from graphrec.experiments.config import BenchmarkConfig, DatasetConfig, ProtocolConfig, load_config

    if args.config is None:
        protocol = ProtocolConfig(
            kind="sampled", split_method="leave-last-out",
            n_negatives=DEFAULT_EXPORT_NEGATIVES, seed=DEFAULT_EXPORT_SEED,
        )
        return BenchmarkConfig(dataset=DatasetConfig(name=args.name), scenario=DEFAULT_EXPORT_SCENARIO, protocol=protocol)

    config = load_config(args.config)
    if config.dataset.name != args.name:
        raise ConfigError(
            f"dataset {args.name!r} differs from dataset.name {config.dataset.name!r} in {args.config}; "
            "pass the config's dataset name or another config"
        )
    return config


def run_export(args: argparse.Namespace) -> int:
    from graphrec.data.ogb_export import export_ogb
    from graphrec.eval.sampled import sample_negatives
    from graphrec.experiments.runner import prepare_data

    config = _export_config(args)
    dataset = prepare_data(config, resolve_data_root(args.data_root), download=not args.no_download)
    sample = sample_negatives(dataset, config.protocol.n_negatives, config.protocol.seed)
    paths = export_ogb(dataset, sample, args.output, config.protocol.split_method)
    print(f"wrote {len(paths)} files in OGB link-prediction layout to {args.output}")
    return 0


def run_scenarios_describe(args: argparse.Namespace) -> int:
    from graphrec.data.registry import load_dataset
    from graphrec.data.scenarios import assign_scenarios, describe_scenarios
    from graphrec.experiments.config import load_config

    config = load_config(args.config)
    raw = load_dataset(
        config.dataset.name, resolve_data_root(args.data_root),
        download=not args.no_download, on_bad_rows=config.dataset.on_bad_rows,
    )
    description = describe_scenarios(assign_scenarios(config.scenario, raw), raw)
    print(_describe_markdown(description))
    return 0


def _describe_markdown(description: dict) -> str:
    names = description["names"]
    lines = [
        f"scenario spec {description['spec']} ({description['level']} level)",
        "",
        "| scenario | interactions | users | items |",
        "|---|---:|---:|---:|",
    ]
    for row in description["scenarios"]:
        lines.append(f"| {row['name']} | {row['interactions']:,} | {row['users']:,} | {row['items']:,} |")
    for kind in ("user", "item"):
        overlap = description[f"{kind}_overlap"]
        lines += ["", f"{kind}s shared between scenarios (diagonal: {kind}s in the scenario)", ""]
        lines.append("| | " + " | ".join(names) + " |")
        lines.append("|---|" + "---:|" * len(names))
        for name, row in zip(names, overlap):
            lines.append(f"| {name} | " + " | ".join(f"{v:,}" for v in row) + " |")
    return "\n".join(lines)
