"""Compare LightGCN propagation kernels: DGL's fused SpMM against torch sparse CSR.

Both run the same three-layer propagation, forward and backward, on the
ml-100k training graph, and the script prints milliseconds per pass and the
ratio DGL / torch. graphrec's layers use whichever is faster.

    python benchmarks/perf/propagation.py --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import dgl
import torch

from graphrec.data.paths import resolve_data_root
from graphrec.experiments.config import BenchmarkConfig
from graphrec.experiments.runner import prepare_data
from graphrec.graph.build import build_graph
from graphrec.nn.lightgcn import symmetric_norm
from graphrec.nn.sparse import SparseOperator


def dgl_propagation(graph: dgl.DGLGraph, dim: int, layers: int):
    forward_rel, backward_rel = graph["interacts"], graph["interacted_by"]
    norm = symmetric_norm(graph).unsqueeze(1)

    def run(user: torch.Tensor, item: torch.Tensor):
        total_u, total_i = user, item
        for _ in range(layers):
            user, item = dgl.ops.u_mul_e_sum(backward_rel, item, norm), dgl.ops.u_mul_e_sum(forward_rel, user, norm)
            total_u, total_i = total_u + user, total_i + item
        return total_u, total_i

    return run


def torch_propagation(graph: dgl.DGLGraph, dim: int, layers: int):
    users, items = graph.edges(etype="interacts")
    item_to_user = SparseOperator(users, items, symmetric_norm(graph), (graph.num_nodes("user"), graph.num_nodes("item")))
    user_to_item = item_to_user.transpose()

    def run(user: torch.Tensor, item: torch.Tensor):
        total_u, total_i = user, item
        for _ in range(layers):
            user, item = item_to_user(item), user_to_item(user)
            total_u, total_i = total_u + user, total_i + item
        return total_u, total_i

    return run


def time_pass(run, graph: dgl.DGLGraph, dim: int, repeats: int) -> list[float]:
    user = torch.randn(graph.num_nodes("user"), dim, requires_grad=True)
    item = torch.randn(graph.num_nodes("item"), dim, requires_grad=True)
    timings = []
    for attempt in range(repeats + 3):
        started = time.perf_counter()
        out_u, out_i = run(user, item)
        (out_u.sum() + out_i.sum()).backward()
        if attempt >= 3:
            timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=None, help="folder that contains ml-100k/")
    parser.add_argument("--dim", type=int, default=64, help="embedding size")
    parser.add_argument("--layers", type=int, default=3, help="propagation steps")
    parser.add_argument("--repeats", type=int, default=30, help="timed passes per kernel")
    args = parser.parse_args()

    dataset = prepare_data(BenchmarkConfig(), resolve_data_root(args.data_root))
    graph = build_graph(dataset)
    results = {}
    for name, factory in (("dgl", dgl_propagation), ("torch-csr", torch_propagation)):
        timings = time_pass(factory(graph, args.dim, args.layers), graph, args.dim, args.repeats)
        results[name] = statistics.median(timings)

    print(f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}")
    print(f"ml-100k training graph: {graph.num_edges('interacts')} interactions, dim {args.dim}, {args.layers} layers")
    for name, seconds in results.items():
        print(f"{name:>10}: {seconds * 1000:.1f} ms per forward+backward (median of {args.repeats})")
    print(f"ratio dgl / torch-csr: {results['dgl'] / results['torch-csr']:.2f}")


if __name__ == "__main__":
    main()
