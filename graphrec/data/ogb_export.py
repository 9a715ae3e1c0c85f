"""Write a split dataset in the folder layout of OGB link-prediction datasets, and read it back.

The layout follows what ``ogb.linkproppred.LinkPropPredDataset`` (ogb 1.3.6)
reads for a homogeneous graph stored as CSV, so OGB-compatible code can load
the export with OGB's own loader::

    meta = json.loads((folder / "meta.json").read_text())
    dataset = LinkPropPredDataset(name=meta["name"], meta_dict={**meta, "dir_path": str(folder)})
    split_edge = dataset.get_edge_split()

Users and items share one node id space: user index ``u`` is node ``u`` and
item index ``i`` is node ``n_users + i``. Files::

    meta.json                      OGB meta_dict without dir_path, plus n_users and n_items
    RELEASE_v1.txt                 OGB's version marker (without it, OGB's loader prompts for a re-download)
    raw/edge.csv.gz                training edges, one "user node,item node" line per distinct pair
    raw/num-node-list.csv.gz       n_users + n_items
    raw/num-edge-list.csv.gz       number of training edges
    raw/node_type.csv.gz           0 for a user node, 1 for an item node
    raw/edge_rating.csv.gz         rating of each training edge
    raw/edge_timestamp.csv.gz      timestamp of each training edge
    processed/                     empty; OGB's loader caches the parsed graph here
    split/<split method>/train.pt  torch.save of a dict of tensors, also valid.pt and test.pt
    mapping/nodeidx2userid.csv.gz  "node idx,user id" with the raw user ids
    mapping/nodeidx2itemid.csv.gz  "node idx,item id" with the raw item ids

Every split dict has ``edge`` (int64 ``[E, 2]``, user node then item node),
``rating`` (float32 ``[E]``) and ``timestamp`` (int64 ``[E]``), one row per
distinct (user, item) pair of the split, sorted by user and then item. When a
pair occurs more than once in a split, its rating and timestamp are those of
its newest interaction. ``valid`` and ``test`` also hold the sampled
negatives of :mod:`graphrec.eval.sampled` in both OGB conventions:

- ``edge_neg`` (int64 ``[E * N, 2]``), as in ``ogbl-collab``. Rows
  ``r * N .. r * N + N - 1`` pair the user of ``edge[r]`` with its N negatives.
- ``source_node``, ``target_node`` (``[E]``) and ``target_node_neg``
  (``[E, N]``), as in ``ogbl-citation2``, whose evaluator ranks
  ``target_node[r]`` against ``target_node_neg[r]``.

The graph in ``raw/`` contains training edges only, so a model that reads it never
sees validation or test edges. OGB's loader adds the reverse of each edge
(``add_inverse_edge`` is ``True``).
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.split import SPLIT_NAMES, TRAIN
from graphrec.errors import DataError
from graphrec.eval.sampled import NegativeSample
from graphrec.io import atomic_write_bytes, atomic_write_text

FORMAT_VERSION = 1
USER_NODE, ITEM_NODE = 0, 1


@dataclass
class OgbExport:
    """A split graph read back from an OGB-layout folder, in graphrec's user and item indices.

    ``splits[name]`` contains numpy arrays: ``users``, ``items``, ``rating`` and
    ``timestamp`` per edge, and for valid and test ``negatives`` (item indices
    ``[E, N]``).
    """

    name: str
    split_method: str
    user_ids: np.ndarray
    item_ids: np.ndarray
    splits: dict[str, dict[str, np.ndarray]]
    train_edges: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def interactions(self, split: str) -> pd.DataFrame:
        """Return the split's edges as raw ``user_id``, ``item_id``, ``rating`` and ``timestamp``."""
        part = self.splits[split]
        return pd.DataFrame({
            "user_id": self.user_ids[part["users"]],
            "item_id": self.item_ids[part["items"]],
            "rating": part["rating"],
            "timestamp": part["timestamp"],
        })


def split_pairs(dataset: RecDataset, split: int) -> pd.DataFrame:
    """Return one row per distinct (user, item) pair of ``split``, sorted, with its newest rating and timestamp."""
    keep = dataset.splits == split
    frame = pd.DataFrame({
        "user": dataset.users[keep],
        "item": dataset.items[keep],
        "rating": dataset.ratings[keep].astype(np.float32),
        "timestamp": dataset.timestamps[keep],
        "row": np.flatnonzero(keep),
    })

    # Sorting by time and then row order makes the last row of a pair its newest interaction.
    frame = frame.sort_values(["user", "item", "timestamp", "row"], kind="stable")
    frame = frame.drop_duplicates(["user", "item"], keep="last")
    return frame.drop(columns="row").reset_index(drop=True)


def _csv_gz(frame: pd.DataFrame, header: bool = False) -> bytes:
    text = frame.to_csv(index=False, header=header)
    return gzip.compress(text.encode("utf-8"), mtime=0)


def _torch_bytes(payload: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _split_payload(pairs: pd.DataFrame, n_users: int, negatives: np.ndarray | None) -> dict[str, torch.Tensor]:
    users = pairs["user"].to_numpy(np.int64, copy=True)
    item_nodes = pairs["item"].to_numpy(np.int64, copy=True) + n_users
    payload = {
        "edge": torch.from_numpy(np.stack([users, item_nodes], axis=1)),
        "rating": torch.from_numpy(pairs["rating"].to_numpy(np.float32, copy=True)),
        "timestamp": torch.from_numpy(pairs["timestamp"].to_numpy(np.int64, copy=True)),
    }
    if negatives is None:
        return payload

    negative_nodes = negatives.astype(np.int64) + n_users
    n_negatives = negative_nodes.shape[1]
    payload["edge_neg"] = torch.from_numpy(
        np.stack([np.repeat(users, n_negatives), negative_nodes.reshape(-1)], axis=1)
    )
    payload["source_node"] = torch.from_numpy(users.copy())
    payload["target_node"] = torch.from_numpy(item_nodes.copy())
    payload["target_node_neg"] = torch.from_numpy(negative_nodes)
    return payload


def _aligned_negatives(pairs: pd.DataFrame, sample: NegativeSample, split_name: str) -> np.ndarray:
    candidates = sample.splits[split_name]
    same = np.array_equal(candidates.users, pairs["user"].to_numpy()) and np.array_equal(
        candidates.items, pairs["item"].to_numpy()
    )
    if not same:
        raise ValueError(
            f"the {split_name} negatives were drawn for other (user, item) pairs than the dataset's; "
            "draw them from this dataset with graphrec.eval.sampled.sample_negatives"
        )
    return candidates.negatives


def meta_dict(dataset: RecDataset, split_method: str, sample: NegativeSample) -> dict:
    """Return the OGB meta_dict of an export (without ``dir_path``), plus graphrec's own keys."""
    return {
        "name": f"ogbl-{dataset.name}",
        "download_name": dataset.name,
        "version": FORMAT_VERSION,
        "url": "",
        "task type": "link prediction",
        "eval metric": "mrr",
        "add_inverse_edge": "True",
        "has_node_attr": "False",
        "has_edge_attr": "False",
        "split": split_method,
        "additional node files": "node_type",
        "additional edge files": "edge_rating,edge_timestamp",
        "is hetero": "False",
        "binary": "False",
        "n_users": dataset.n_users,
        "n_items": dataset.n_items,
        "n_negatives": sample.n_negatives,
        "negative_seed": sample.seed,
    }


def export_ogb(dataset: RecDataset, sample: NegativeSample, folder: Path, split_method: str) -> list[Path]:
    """Write ``dataset`` and its sampled negatives to ``folder`` in the layout of the module docstring.

    Returns the written file paths.
    """
    folder = Path(folder)
    n_users = dataset.n_users
    pairs = {code: split_pairs(dataset, code) for code in range(len(SPLIT_NAMES))}
    train = pairs[TRAIN]
    written: list[Path] = []

    def write(relative: str, data: bytes) -> None:
        path = folder / relative
        atomic_write_bytes(path, data)
        written.append(path)

    meta = meta_dict(dataset, split_method, sample)
    atomic_write_text(folder / "meta.json", json.dumps(meta, indent=2) + "\n")
    written.append(folder / "meta.json")
    write(f"RELEASE_v{FORMAT_VERSION}.txt", b"exported by graphrec\n")

    train_edges = pd.DataFrame({"user": train["user"], "item": train["item"] + n_users})
    write("raw/edge.csv.gz", _csv_gz(train_edges))
    write("raw/num-node-list.csv.gz", _csv_gz(pd.DataFrame([n_users + dataset.n_items])))
    write("raw/num-edge-list.csv.gz", _csv_gz(pd.DataFrame([len(train)])))
    node_type = np.r_[np.full(n_users, USER_NODE), np.full(dataset.n_items, ITEM_NODE)]
    write("raw/node_type.csv.gz", _csv_gz(pd.DataFrame(node_type)))
    write("raw/edge_rating.csv.gz", _csv_gz(train[["rating"]]))
    write("raw/edge_timestamp.csv.gz", _csv_gz(train[["timestamp"]]))
    (folder / "processed").mkdir(parents=True, exist_ok=True)

    for code, name in enumerate(SPLIT_NAMES):
        negatives = None if code == TRAIN else _aligned_negatives(pairs[code], sample, name)
        write(f"split/{split_method}/{name}.pt", _torch_bytes(_split_payload(pairs[code], n_users, negatives)))

    users = pd.DataFrame({"node idx": np.arange(n_users), "user id": dataset.user_ids})
    items = pd.DataFrame({"node idx": np.arange(dataset.n_items) + n_users, "item id": dataset.item_ids})
    write("mapping/nodeidx2userid.csv.gz", _csv_gz(users, header=True))
    write("mapping/nodeidx2itemid.csv.gz", _csv_gz(items, header=True))
    return written


def _read_split(path: Path, n_users: int) -> dict[str, np.ndarray]:
    payload = torch.load(path, weights_only=True)
    edge = payload["edge"].numpy()
    part = {
        "users": edge[:, 0].astype(np.int64),
        "items": edge[:, 1].astype(np.int64) - n_users,
        "rating": payload["rating"].numpy(),
        "timestamp": payload["timestamp"].numpy(),
    }
    if "target_node_neg" in payload:
        part["negatives"] = payload["target_node_neg"].numpy().astype(np.int64) - n_users
    return part


def load_ogb_export(folder: Path) -> OgbExport:
    """Read a folder written by :func:`export_ogb`."""
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise DataError(f"{folder} is not an OGB export of graphrec: meta.json is missing", path=folder)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    n_users, split_method = int(meta["n_users"]), meta["split"]

    users = pd.read_csv(folder / "mapping" / "nodeidx2userid.csv.gz")
    items = pd.read_csv(folder / "mapping" / "nodeidx2itemid.csv.gz")
    splits = {name: _read_split(folder / "split" / split_method / f"{name}.pt", n_users) for name in SPLIT_NAMES}
    train_edges = pd.read_csv(folder / "raw" / "edge.csv.gz", header=None).to_numpy(np.int64)
    return OgbExport(
        name=meta["download_name"],
        split_method=split_method,
        user_ids=users["user id"].to_numpy(),
        item_ids=items["item id"].to_numpy(),
        splits=splits,
        train_edges=train_edges,
    )
