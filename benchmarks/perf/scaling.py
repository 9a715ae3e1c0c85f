"""Scaling curve: epoch time and peak memory of full-graph training against the number of interactions.

For every size and model the script starts a child process. The child
generates a synthetic dataset (graphrec.data.synthetic, users and items
scaled with the size), splits it per user 80/10/10, builds the graph and the
model, and runs ``--epochs`` training epochs of graphrec's Trainer. It
reports its epoch times and its peak resident memory (``ru_maxrss``, which
covers torch's allocations, unlike tracemalloc), so every size is measured in
a fresh process. The parent watches the free memory of the machine
(``MemAvailable``) and kills a child when it falls below ``--min-free-gb``.

Every mini-batch of full-graph training propagates over the whole graph, so
an epoch runs ``ceil(train interactions / batch size)`` propagations, each
at least proportional to the number of interactions. At a fixed batch size
the epoch time therefore grows at least quadratically with the size. The
default fixes the number of propagations per epoch instead
(``--propagations-per-epoch 16``, which sets the batch size per size), so the
epoch time grows like the time of one propagation. ``--batch-size`` fixes the
batch size. The table gives both settings and the time per propagation, from
which the epoch time at any batch size follows.

One forward and backward pass before the timed epochs keeps one-time
allocations out of the times. ``--timed-steps N`` times only the first N
steps of each epoch and scales that time to the whole epoch, which the table
marks.

Results: a table, the fitted growth rate (slope of log time against log
interactions, numpy.polyfit) and the machine go to ``scaling.md`` and the plot
to ``scaling.png`` in ``--output``. ``--raw FILE`` also writes every record
as JSON. The results page was made with

    nice -n 10 python benchmarks/perf/scaling.py --sizes 1000000 5000000 20000000 --timed-steps 4
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_SIZES = (1_000_000, 5_000_000, 20_000_000)
DEFAULT_MODELS = ("lightgcn", "scenario-gnn")
# Hyper-parameters of benchmarks/configs/ml100k.yaml.
MODEL_PARAMS = {
    "lightgcn": {"embedding_dim": 64, "n_layers": 3, "reg_weight": 1e-3},
    "scenario-gnn": {"embedding_dim": 64, "n_layers": 3, "reg_weight": 1e-3, "structure_reg": 0.1},
}
KIB = 1024


def peak_rss_mb() -> float:
    """Return this process's peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB


def available_memory_gb() -> float:
    """Return MemAvailable from /proc/meminfo in GiB."""
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / KIB**2
    raise RuntimeError("MemAvailable not found in /proc/meminfo")


def run_worker(args: argparse.Namespace) -> dict:
    """Measure one (size, model) point in this process and return the record."""
    import torch

    from graphrec.data.dataset import build_dataset
    from graphrec.data.scenarios import assign_scenarios
    from graphrec.data.split import TRAIN
    from graphrec.data.synthetic import SyntheticConfig, generate_synthetic
    from graphrec.experiments.config import TrainConfig
    from graphrec.graph.build import build_graph
    from graphrec.models.registry import build_model
    from graphrec.train.sampling import UniformNegativeSampler
    from graphrec.train.trainer import Trainer

    torch.manual_seed(args.seed)
    record = {"n_interactions": args.size, "model": args.model, "threads": torch.get_num_threads()}
    started = time.perf_counter()
    config = SyntheticConfig.for_interactions(args.size, seed=args.seed)
    raw = generate_synthetic(config)
    record["generate_seconds"] = time.perf_counter() - started
    record["rss_after_generate_mb"] = peak_rss_mb()

    dataset = build_dataset(raw, assign_scenarios("column:scenario", raw), (0.8, 0.1, 0.1), args.seed)
    del raw
    graph = build_graph(dataset)
    model = build_model(args.model, MODEL_PARAMS[args.model], dataset, graph)
    train = dataset.splits == TRAIN
    n_train = int(train.sum())
    batch_size = args.batch_size or math.ceil(n_train / args.propagations_per_epoch)
    record.update(
        n_users=dataset.n_users,
        n_items=dataset.n_items,
        n_train=n_train,
        batch_size=batch_size,
        propagations_per_epoch=math.ceil(n_train / batch_size),
        setup_seconds=time.perf_counter() - started,
        rss_before_training_mb=peak_rss_mb(),
    )

    trainer = Trainer(TrainConfig(batch_size=batch_size, learning_rate=args.learning_rate), seed=args.seed, progress=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    sampler = UniformNegativeSampler(dataset.train_matrix, trainer.rng)
    users, items, scenarios = dataset.users[train], dataset.items[train], dataset.scenarios[train]
    warm_up(model, sampler, users[:batch_size], items[:batch_size], scenarios[:batch_size])
    record["rss_after_warm_up_mb"] = peak_rss_mb()
    steps = record["propagations_per_epoch"]
    if args.timed_steps is not None and args.timed_steps < steps:
        # Every step of an epoch propagates over the same graph with the same
        # batch size, so the first steps time the rest as well.
        steps = args.timed_steps
        users, items, scenarios = users[: steps * batch_size], items[: steps * batch_size], scenarios[: steps * batch_size]
    record["timed_steps"] = steps
    epoch_seconds, losses = [], []
    for _ in range(args.epochs):
        epoch_started = time.perf_counter()
        # NOTE: _run_epoch is the Trainer's own epoch loop; calling it times
        # exactly what `graphrec benchmark` runs, without the validation pass.
        losses.append(trainer._run_epoch(model, optimizer, sampler, users, items, scenarios, dataset))
        elapsed = time.perf_counter() - epoch_started
        epoch_seconds.append(elapsed * record["propagations_per_epoch"] / steps)
        print(f"{args.model} {args.size}: epoch {len(losses)} {epoch_seconds[-1]:.1f} s, loss {losses[-1]:.4f}", flush=True)
    record.update(epoch_seconds=epoch_seconds, losses=losses, peak_rss_mb=peak_rss_mb())
    return record


def warm_up(model, sampler, users: np.ndarray, items: np.ndarray, scenarios: np.ndarray) -> None:
    """Run one forward and backward pass without an optimizer step, so that one-time allocations are not timed."""
    import torch

    loss = model.loss(
        torch.from_numpy(users), torch.from_numpy(items), torch.from_numpy(sampler.sample(users)), torch.from_numpy(scenarios)
    )
    loss.backward()
    model.zero_grad(set_to_none=True)


def measure(size: int, model: str, args: argparse.Namespace) -> dict:
    """Run one worker child for ``size`` and ``model``, watching free memory, and return its record."""
    out = args.output / f".scaling-{model}-{size}.json"
    command = [
        sys.executable, str(Path(__file__).resolve()), "--worker", "--size", str(size), "--model", model,
        "--propagations-per-epoch", str(args.propagations_per_epoch), "--epochs", str(args.epochs),
        "--seed", str(args.seed), "--learning-rate", str(args.learning_rate), "--record", str(out),
    ]
    if args.timed_steps is not None:
        command += ["--timed-steps", str(args.timed_steps)]
    if args.batch_size is not None:
        command += ["--batch-size", str(args.batch_size)]
    started = time.perf_counter()
    child = subprocess.Popen(command)
    lowest_free = available_memory_gb()
    while child.poll() is None:
        time.sleep(1.0)
        lowest_free = min(lowest_free, available_memory_gb())
        if lowest_free < args.min_free_gb:
            child.kill()
            child.wait()
            print(f"{model} {size}: stopped, free memory fell to {lowest_free:.1f} GiB", flush=True)
            return {"n_interactions": size, "model": model, "stopped": f"free memory below {args.min_free_gb} GiB"}
    if child.returncode != 0:
        return {"n_interactions": size, "model": model, "stopped": f"exit code {child.returncode}"}
    record = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    record["wall_seconds"] = time.perf_counter() - started
    record["lowest_free_gb"] = lowest_free
    return record


def growth_rate(records: list[dict], key) -> float | None:
    """Return the slope of log(key(record)) against log(interactions), or None with fewer than two points."""
    points = [(r["n_interactions"], key(r)) for r in records if "stopped" not in r]
    if len(points) < 2:
        return None
    sizes, values = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(sizes, values, 1)[0])


def epoch_time(record: dict) -> float:
    return float(np.median(record["epoch_seconds"]))


def propagation_time(record: dict) -> float:
    return epoch_time(record) / record["propagations_per_epoch"]


def machine_description() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    with open("/proc/meminfo", encoding="ascii") as handle:
        total_kib = int(next(line for line in handle if line.startswith("MemTotal:")).split()[1])
    import torch

    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "memory_gib": round(total_kib / KIB**2, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
    }


def plot(records: list[dict]) -> bytes:
    """Return a PNG of epoch time and peak memory against interactions, log-log."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for model in dict.fromkeys(r["model"] for r in records):
        done = [r for r in records if r["model"] == model and "stopped" not in r]
        if not done:
            continue
        sizes = [r["n_interactions"] for r in done]
        slope = growth_rate(done, epoch_time)
        label = f"{model} (slope {slope:.2f})" if slope is not None else model
        (line,) = time_axis.plot(sizes, [epoch_time(r) for r in done], "o-", label=f"{label}, epoch")
        color = line.get_color()
        time_axis.plot(sizes, [propagation_time(r) for r in done], "s--", color=color, label=f"{model}, one propagation")
        memory_axis.plot(sizes, [r["peak_rss_mb"] / KIB for r in done], "o-", color=color, label=model)
    for axis, title, unit in ((time_axis, "Training time", "seconds"), (memory_axis, "Peak resident memory", "GiB")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("interactions")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    return buffer.getvalue()


def report(records: list[dict], machine: dict, command: str, args: argparse.Namespace) -> str:
    lines = [
        "# Scaling curve: full-graph training on synthetic data",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine['cpu']}, nproc {machine['nproc']}, {machine['memory_gib']} GiB memory, "
        f"OMP_NUM_THREADS={machine['omp_num_threads']}, Python {machine['python']}, torch {machine['torch']}. "
        f"Load average (1, 5, 15 min) at start {machine['load_average_at_start']}, "
        f"at end {machine.get('load_average_at_end', 'n/a')}: other processes shared the CPU, "
        "so the times are upper bounds for this machine.",
        "",
        "| model | interactions | users | items | train | batch | propagations / epoch | timed steps | epoch s | s / propagation | peak RSS GiB | setup s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in records:
        if "stopped" in r:
            lines.append(f"| {r['model']} | {r['n_interactions']:,} | stopped: {r['stopped']} | | | | | | | | | |")
            continue
        lines.append(
            f"| {r['model']} | {r['n_interactions']:,} | {r['n_users']:,} | {r['n_items']:,} | {r['n_train']:,} "
            f"| {r['batch_size']:,} | {r['propagations_per_epoch']} | {r.get('timed_steps', r['propagations_per_epoch'])} "
            f"| {epoch_time(r):.1f} | {propagation_time(r):.2f} "
            f"| {r['peak_rss_mb'] / KIB:.2f} | {r['setup_seconds']:.0f} |"
        )
    lines += [
        "",
        "Epoch s is the time of one epoch of graphrec's Trainer (no validation pass). Where timed steps is "
        "below propagations / epoch, it is the time of the timed steps scaled to the whole epoch. Peak RSS "
        "is the child process's ru_maxrss: data generation, the split, the graph, the model and training; "
        "about 0.5 GiB of it is Python with torch and DGL loaded. Setup s covers generation, split, graph and model.",
        "",
        "Growth rates (slope of log value against log interactions, numpy.polyfit):",
        "",
    ]
    for model in dict.fromkeys(r["model"] for r in records):
        done = [r for r in records if r["model"] == model]
        rates = [growth_rate(done, epoch_time), growth_rate(done, propagation_time),
                 growth_rate(done, lambda r: r["peak_rss_mb"])]
        text = ", ".join(
            f"{name} {rate:.2f}" if rate is not None else f"{name} n/a"
            for name, rate in zip(("epoch time", "time per propagation", "peak memory"), rates)
        )
        lines.append(f"- {model}: {text}")
    lines += ["", "![scaling](scaling.png)", ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=list(DEFAULT_SIZES), help="interaction counts")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=sorted(MODEL_PARAMS))
    parser.add_argument(
        "--propagations-per-epoch", type=int, default=16,
        help="full-graph propagations per epoch; sets the batch size to ceil(train interactions / this) per size",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None,
        help="training triples per mini-batch at every size; overrides --propagations-per-epoch",
    )
    parser.add_argument(
        "--timed-steps", type=int, default=None,
        help="time only the first N mini-batch steps of each epoch and scale the time to the whole epoch",
    )
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per size and model (the median is reported)")
    parser.add_argument("--learning-rate", type=float, default=0.005, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of training")
    parser.add_argument("--min-free-gb", type=float, default=3.0, help="kill a child when free memory falls below this (GiB)")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"), help="folder for the md, png and json")
    parser.add_argument("--raw", type=Path, default=None, help="also write the raw records and the machine as JSON here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--record", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        args.record.write_text(json.dumps(run_worker(args)), encoding="utf-8")
        return 0

    from graphrec.io import atomic_write_bytes, atomic_write_text

    args.output.mkdir(parents=True, exist_ok=True)
    machine = machine_description()
    command = "python " + " ".join([os.path.relpath(__file__), *(argv if argv is not None else sys.argv[1:])])
    records = []
    for size in sorted(int(s) for s in args.sizes):
        for model in args.models:
            record = measure(size, model, args)
            records.append(record)
            print(json.dumps({k: v for k, v in record.items() if k != "losses"}), flush=True)
    records.sort(key=lambda r: (r["model"], r["n_interactions"]))

    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    atomic_write_bytes(args.output / "scaling.png", plot(records))
    if args.raw is not None:
        atomic_write_text(args.raw, json.dumps({"machine": machine, "command": command, "records": records}, indent=2))
    atomic_write_text(args.output / "scaling.md", report(records, machine, command, args))
    print(report(records, machine, command, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
