"""Graph summaries through networkx and scipy, for inspection and reports."""

from __future__ import annotations

import dgl
import networkx as nx
import numpy as np


def scenario_overlap(graph: dgl.DGLGraph, ntype: str = "user") -> np.ndarray:
    """Count the ``ntype`` nodes shared by each pair of scenarios, ``[S, S]``.

    The diagonal is the number of ``ntype`` nodes active in each scenario.
    """
    etype = "active_in" if ntype == "user" else "appears_in"
    src, dst = graph.edges(etype=etype)
    n_scenarios = graph.num_nodes("scenario")
    membership = np.zeros((graph.num_nodes(ntype), n_scenarios), dtype=np.int64)
    membership[src.numpy(), dst.numpy()] = 1
    return membership.T @ membership


def to_networkx(graph: dgl.DGLGraph) -> nx.MultiDiGraph:
    """Convert to a networkx multigraph whose nodes are ``(ntype, id)`` tuples."""
    out = nx.MultiDiGraph()
    for ntype in graph.ntypes:
        out.add_nodes_from((ntype, int(i)) for i in range(graph.num_nodes(ntype)))
    for src_type, etype, dst_type in graph.canonical_etypes:
        src, dst = graph.edges(etype=(src_type, etype, dst_type))
        out.add_edges_from(
            ((src_type, int(s)), (dst_type, int(d)), {"etype": etype}) for s, d in zip(src, dst)
        )
    return out
