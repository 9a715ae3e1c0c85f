"""Distributed LightGCN training with DGL on one host: partition, two servers, two trainers, and a check.

Steps:

1. Generate a synthetic interaction graph (graphrec.data.synthetic), split
   each user's interactions 80/10/10 and build the homogeneous user-item
   graph of the training interactions.
2. Partition it into two parts with ``dgl.distributed.partition_graph``
   (METIS), write ``ip_config.txt`` with one ``127.0.0.1 <port>`` line per
   partition, and ``layout.json`` and ``settings.json`` for the workers.
3. Train the same model in this process (``dgl.nn.NodeEmbedding`` and
   ``dgl.optim.SparseAdam``) and evaluate it on the test split.
4. Start two simulated machines with worker.py, each with the server of its
   partition and one trainer (``DistGraph``, ``node_split``,
   ``DistEmbedding`` and distributed ``SparseAdam``), each in its own mount
   namespace with a private /dev/shm (see worker.py for why). This needs
   root or CAP_SYS_ADMIN for ``unshare --mount``.
5. Evaluate the distributed embeddings the same way and check that each
   metric is within ``--tolerance`` of the single-process one, and that
   training improved on the untrained embeddings by at least ``--min-gain``.

Exit codes: 0 when the check passes, 1 when it fails or a process fails or
times out, 2 when this host cannot run the example (no ``unshare`` or no
permission to create a mount namespace). Every child process is started in a
new session and killed with its process group on a timeout.

    python examples/distributed/run.py --workdir /tmp/dist-example
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dgl
import numpy as np
import torch

from common import (
    GRAPH_NAME,
    Settings,
    evaluate_table,
    init_embeddings,
    init_embeddings_in_place,
    make_dataset,
    steps_per_epoch,
    train,
    training_graph,
)

HERE = Path(__file__).resolve().parent
N_MACHINES = 2
EXIT_UNSUPPORTED = 2


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def check_namespaces() -> str | None:
    """Return why a private mount namespace cannot be made here, or None when it can."""
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        return f"unshare --mount failed ({probe.stderr.strip()}); it needs root or CAP_SYS_ADMIN"
    return None


def prepare(workdir: Path, settings: Settings, graph: dgl.DGLGraph) -> None:
    """Partition the graph and write ip_config.txt, layout.json and settings.json into ``workdir``."""
    original_ids, _ = dgl.distributed.partition_graph(
        graph, GRAPH_NAME, N_MACHINES, str(workdir / "partitions"), part_method="metis", return_mapping=True
    )
    torch.save(original_ids, workdir / "orig_nid.pt")

    *server_ports, master_port = free_ports(N_MACHINES + 1)
    lines = [f"127.0.0.1 {port}\n" for port in server_ports]
    (workdir / "ip_config.txt").write_text("".join(lines), encoding="utf-8")
    layout = {"graph_name": GRAPH_NAME, "n_trainers": N_MACHINES, "master_port": master_port}
    (workdir / "layout.json").write_text(json.dumps(layout), encoding="utf-8")
    settings.save(workdir / "settings.json")


def train_single_process(graph: dgl.DGLGraph, n_users: int, settings: Settings) -> np.ndarray:
    """Train in this process and return the embedding table (rows in node order)."""
    torch.manual_seed(settings.train_seed)
    # NodeEmbedding keeps its table in shared memory under this name, so the
    # process id keeps two runs on one host apart.
    embedding = dgl.nn.NodeEmbedding(
        graph.num_nodes(), settings.embedding_dim, name=f"node_embedding_{os.getpid()}",
        init_func=init_embeddings_in_place,
    )
    optimizer = dgl.optim.SparseAdam([embedding], lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(settings.train_seed)
    all_nodes = torch.arange(graph.num_nodes())
    train(
        embedding,
        optimizer,
        dgl.sampling.sample_neighbors,
        graph,
        graph.ndata["degree"],
        all_nodes[:n_users],
        all_nodes[n_users:],
        steps_per_epoch(n_users, settings.batch_users),
        settings,
        generator,
        log=lambda line: print(f"single process: {line}", flush=True),
    )
    return embedding.weight.detach().numpy().copy()


def launch_machines(workdir: Path, timeout: float) -> int:
    """Start every simulated machine, wait for all, and return 0 or the first failing exit code."""
    processes = []
    for machine_id in range(N_MACHINES):
        log = open(workdir / f"machine-{machine_id}.log", "w", encoding="utf-8")
        command = [
            "unshare", "--mount", "--propagation", "private",
            sys.executable, str(HERE / "worker.py"), "machine",
            "--id", str(machine_id), "--workdir", str(workdir), "--timeout", str(timeout),
        ]
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    deadline = time.monotonic() + timeout + 30
    codes = []
    try:
        for process in processes:
            codes.append(process.wait(timeout=max(1.0, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        print(f"the distributed run timed out after {timeout:.0f} s", file=sys.stderr)
        codes.append(1)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return next((code for code in codes if code != 0), 0)


def print_logs(workdir: Path, lines: int = 15) -> None:
    for path in sorted([*workdir.glob("machine-*.log"), *(workdir / "logs").glob("*.log")]):
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        print(f"--- {path.name} (last {len(tail)} lines)", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="work folder (default: a new temporary folder)")
    parser.add_argument("--n-users", type=int, default=defaults.n_users, help="synthetic users")
    parser.add_argument("--n-items", type=int, default=defaults.n_items, help="synthetic items")
    parser.add_argument("--n-interactions", type=int, default=defaults.n_interactions, help="synthetic interactions")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="training epochs of both runs")
    parser.add_argument("--batch-users", type=int, default=defaults.batch_users, help="users per optimizer step, over all trainers")
    parser.add_argument(
        "--tolerance", type=float, default=0.05, help="largest allowed absolute gap between the two runs' metrics"
    )
    parser.add_argument(
        "--min-gain", type=float, default=0.02, help="smallest gain over untrained embeddings that each run must show"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before the distributed run is killed")
    return parser.parse_args(argv)


def exit_on_sigterm(signum, frame) -> None:
    """Turn SIGTERM into SystemExit, so that launch_machines still kills the machines it started."""
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    problem = check_namespaces()
    if problem is not None:
        print(f"cannot simulate two machines on this host: {problem}", file=sys.stderr)
        return EXIT_UNSUPPORTED

    settings = Settings(
        n_users=args.n_users,
        n_items=args.n_items,
        n_interactions=args.n_interactions,
        epochs=args.epochs,
        batch_users=args.batch_users,
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="graphrec-distributed-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    dataset = make_dataset(settings)
    graph = training_graph(dataset)
    print(f"graph: {dataset.n_users} users, {dataset.n_items} items, {graph.num_edges() // 2} training interactions")
    prepare(workdir, settings, graph)

    torch.manual_seed(settings.train_seed)
    untrained = evaluate_table(dataset, init_embeddings((graph.num_nodes(), settings.embedding_dim), torch.float32).numpy(), settings)
    single = evaluate_table(dataset, train_single_process(graph, dataset.n_users, settings), settings)

    code = launch_machines(workdir, args.timeout)
    if code != 0:
        print(f"the distributed run failed with exit code {code}; logs in {workdir}", file=sys.stderr)
        print_logs(workdir)
        return 1
    distributed = evaluate_table(dataset, np.load(workdir / "distributed_embeddings.npy"), settings)

    failures = []
    for metric, value in single.items():
        if abs(distributed[metric] - value) > args.tolerance:
            failures.append(f"{metric}: distributed {distributed[metric]:.4f} is more than {args.tolerance} from {value:.4f}")
        for name, run in (("single-process", single), ("distributed", distributed)):
            if run[metric] < untrained[metric] + args.min_gain:
                failures.append(f"{metric}: {name} {run[metric]:.4f} gains less than {args.min_gain} over untrained")
    report = {"untrained": untrained, "single_process": single, "distributed": distributed,
              "tolerance": args.tolerance, "min_gain": args.min_gain,
              "seconds": round(time.perf_counter() - started, 1), "passed": not failures}
    (workdir / "result.json").write_text(json.dumps(report, indent=2), encoding="utf-8")

    print(f"{'run':<16}" + "".join(f"{metric:>12}" for metric in single))
    for name, run in (("untrained", untrained), ("single-process", single), ("distributed", distributed)):
        print(f"{name:<16}" + "".join(f"{run[metric]:>12.4f}" for metric in single))
    print(f"{report['seconds']} s; results in {workdir / 'result.json'}")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
