"""The trainer process of the distributed example (DGL_ROLE=client).

Each trainer connects to every partition's server, takes its share of the
users with ``dgl.distributed.node_split``, and trains the shared
``DistEmbedding`` table with DGL's distributed sparse Adam. Trainer 0 then
writes the whole table, in the node order of the unpartitioned graph, to
``distributed_embeddings.npy`` in the work folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def use_machine_id(machine_id: int) -> None:
    """Make DGL take ``machine_id`` as this process's machine instead of matching its IP address.

    DGL finds a trainer's machine by looking up the host's IP addresses in
    ip_config.txt. Every simulated machine of the example is 127.0.0.1, so
    the lookup would put both trainers on machine 0. On a real cluster,
    where every line of ip_config.txt is another host, this override is not
    needed.
    """
    from dgl.distributed import rpc_client

    # NOTE: this replaces a module-level function of DGL 2.1
    # (dgl.distributed.rpc_client.get_local_machine_id), which connect_to_server
    # calls; another DGL version may look the machine up elsewhere.
    rpc_client.get_local_machine_id = lambda server_namebook: machine_id


def check_partition_data(graph) -> None:
    """Raise RuntimeError when the served node degrees differ from the graph structure.

    Servers that share memory segments by mistake (two partitions behind one
    /dev/shm) serve another partition's rows; this catches it before training.
    """
    import torch

    nodes = torch.arange(graph.num_nodes())
    served = graph.ndata["degree"][nodes]
    counted = graph.in_degrees(nodes).float()
    if not torch.equal(served, counted):
        wrong = int((served != counted).sum())
        raise RuntimeError(
            f"{wrong} of {len(nodes)} served node degrees differ from the partitions' in-degrees; "
            "each partition's server needs its own /dev/shm"
        )


def run_trainer() -> int:
    """Train this trainer's share of the users and return the exit code."""
    import dgl
    import torch

    from common import GRAPH_NAME, Settings, init_embeddings, steps_per_epoch, train

    workdir = Path(os.environ["GRAPHREC_EXAMPLE_WORKDIR"])
    settings = Settings.load(workdir / "settings.json")
    if "GRAPHREC_EXAMPLE_MACHINE" in os.environ:
        # Set by worker.py for the one-host simulation only; on a cluster DGL finds the machine by its IP address.
        use_machine_id(int(os.environ["GRAPHREC_EXAMPLE_MACHINE"]))

    dgl.distributed.initialize(os.environ["DGL_IP_CONFIG"])
    torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank()
    graph = dgl.distributed.DistGraph(GRAPH_NAME)

    check_partition_data(graph)
    users = dgl.distributed.node_split(graph.ndata["is_user"], graph.get_partition_book(), rank=rank)
    all_nodes = torch.arange(graph.num_nodes())
    is_item = graph.ndata["is_item"][all_nodes].bool()
    item_nodes = all_nodes[is_item]
    n_users = int((~is_item).sum())
    print(f"trainer {rank}: {len(users)} of {n_users} users, {len(item_nodes)} items", flush=True)

    embedding = dgl.distributed.DistEmbedding(
        graph.num_nodes(), settings.embedding_dim, name="node_embedding", init_func=init_embeddings
    )
    optimizer = dgl.distributed.optim.SparseAdam([embedding], lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(settings.train_seed * 1000 + rank)
    steps = steps_per_epoch(n_users, settings.batch_users)
    losses = train(
        embedding,
        optimizer,
        dgl.distributed.sample_neighbors,
        graph,
        graph.ndata["degree"],
        users,
        item_nodes,
        steps,
        settings,
        generator,
        log=lambda line: print(f"trainer {rank}: {line}", flush=True),
    )

    # Every trainer's last step must reach the servers before trainer 0 reads the table.
    torch.distributed.barrier()
    if rank == 0:
        table = embedding.weight[all_nodes].numpy()
        original_ids = torch.load(workdir / "orig_nid.pt").numpy()
        ordered = np.empty_like(table)
        ordered[original_ids] = table
        np.save(workdir / "distributed_embeddings.npy", ordered)
    (workdir / f"losses-{rank}.json").write_text(json.dumps(losses), encoding="utf-8")
    torch.distributed.barrier()
    return 0
