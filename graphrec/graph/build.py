"""The heterogeneous user-item-scenario graph, built from training interactions only.

Node types are ``user``, ``item`` and ``scenario``. Edge types:

* ``(user, interacts, item)`` and its reverse ``(item, interacted_by, user)``,
  one edge per training interaction, with edge data ``scenario`` (int64),
  ``weight`` (the rating, float32) and ``timestamp`` (int64);
* ``(user, active_in, scenario)`` and ``(item, appears_in, scenario)``, with
  the reverses ``(scenario, includes_user, user)`` and
  ``(scenario, includes_item, item)``, one edge per distinct pair, with edge
  data ``weight`` = the number of training interactions behind the pair.

Validation and test interactions never become edges, so no model can see them
through message passing.
"""

from __future__ import annotations

import dgl
import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TRAIN


def _pair_counts(left: np.ndarray, right: np.ndarray, n_right: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys, counts = np.unique(left * n_right + right, return_counts=True)
    return keys // n_right, keys % n_right, counts.astype(np.float32)


def build_graph(dataset: RecDataset) -> dgl.DGLGraph:
    """Build the heterograph of ``dataset``'s training interactions."""
    train = dataset.splits == TRAIN
    users = dataset.users[train]
    items = dataset.items[train]
    scenarios = dataset.scenarios[train]
    n_scenarios = dataset.n_scenarios

    user_sc_u, user_sc_s, user_sc_w = _pair_counts(users, scenarios, n_scenarios)
    item_sc_i, item_sc_s, item_sc_w = _pair_counts(items, scenarios, n_scenarios)

    def pair(a: np.ndarray, b: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(a.astype(np.int64)), torch.from_numpy(b.astype(np.int64))

    graph = dgl.heterograph(
        {
            ("user", "interacts", "item"): pair(users, items),
            ("item", "interacted_by", "user"): pair(items, users),
            ("user", "active_in", "scenario"): pair(user_sc_u, user_sc_s),
            ("scenario", "includes_user", "user"): pair(user_sc_s, user_sc_u),
            ("item", "appears_in", "scenario"): pair(item_sc_i, item_sc_s),
            ("scenario", "includes_item", "item"): pair(item_sc_s, item_sc_i),
        },
        num_nodes_dict={"user": dataset.n_users, "item": dataset.n_items, "scenario": n_scenarios},
    )

    for etype in ("interacts", "interacted_by"):
        graph.edges[etype].data["scenario"] = torch.from_numpy(scenarios.astype(np.int64))
        graph.edges[etype].data["weight"] = torch.from_numpy(dataset.ratings[train].astype(np.float32))
        graph.edges[etype].data["timestamp"] = torch.from_numpy(dataset.timestamps[train])
    for etype, weight in (
        ("active_in", user_sc_w),
        ("includes_user", user_sc_w),
        ("appears_in", item_sc_w),
        ("includes_item", item_sc_w),
    ):
        graph.edges[etype].data["weight"] = torch.from_numpy(weight)
    return graph
