"""OGB link-prediction export: round trip on the tiny dataset, OGB's own loader, and the CLI command."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import yaml
from ogb.linkproppred import LinkPropPredDataset

from graphrec.cli import main
from graphrec.data.ogb_export import export_ogb, load_ogb_export
from graphrec.data.split import TRAIN
from graphrec.eval.sampled import sample_negatives
from graphrec.experiments.config import BenchmarkConfig, from_dict
from graphrec.experiments.runner import prepare_data
from helpers import INTERACTIONS, T, V, X, tiny_dataset, write_synthetic_ml100k

# The only item each tiny user has not interacted with, where there is one
# (raw ids, from INTERACTIONS): user 1 lacks 108, user 3 lacks 101, user 5
# lacks 105 and user 6 lacks 104. Users 2 and 4 lack two items each.
ONLY_UNSEEN = {1: 108, 3: 101, 5: 105, 6: 104}
UNSEEN_PAIRS = {2: {102, 105}, 4: {103, 106}}


def _expected_pairs(label: int) -> list[tuple[int, int, float, int]]:
    rows = [(user, item, rating, ts) for user, item, rating, ts, code in INTERACTIONS if code == label]
    return sorted(rows)


def _export_tiny(folder: Path):
    dataset = tiny_dataset()
    sample = sample_negatives(dataset, n_negatives=1, seed=3)
    export_ogb(dataset, sample, folder, "fixed")
    return dataset, sample


def test_round_trip_of_tiny_dataset(tmp_path: Path):
    dataset, sample = _export_tiny(tmp_path / "ogb")

    loaded = load_ogb_export(tmp_path / "ogb")

    assert loaded.name == "tiny"
    assert loaded.user_ids.tolist() == [1, 2, 3, 4, 5, 6]
    assert loaded.item_ids.tolist() == list(range(101, 109))
    for name, label in (("train", T), ("valid", V), ("test", X)):
        frame = loaded.interactions(name)
        got = list(zip(frame["user_id"], frame["item_id"], frame["rating"], frame["timestamp"]))
        assert got == _expected_pairs(label), name
    assert len(loaded.train_edges) == 28
    assert loaded.train_edges[:, 0].max() < 6
    assert loaded.train_edges[:, 1].min() >= 6


def test_round_trip_keeps_negatives(tmp_path: Path):
    dataset, sample = _export_tiny(tmp_path / "ogb")

    loaded = load_ogb_export(tmp_path / "ogb")

    for name in ("valid", "test"):
        negatives = loaded.splits[name]["negatives"]
        assert np.array_equal(negatives, sample.splits[name].negatives)
        raw_users = loaded.user_ids[loaded.splits[name]["users"]]
        raw_negatives = loaded.item_ids[negatives[:, 0]]
        for user, item in zip(raw_users.tolist(), raw_negatives.tolist()):
            if user in ONLY_UNSEEN:
                assert item == ONLY_UNSEEN[user], (name, user)
            else:
                assert item in UNSEEN_PAIRS[user], (name, user)


def test_ogb_loader_reads_export(tmp_path: Path):
    _export_tiny(tmp_path / "ogb")
    meta = json.loads((tmp_path / "ogb" / "meta.json").read_text(encoding="utf-8"))

    dataset = LinkPropPredDataset(name=meta["name"], meta_dict={**meta, "dir_path": str(tmp_path / "ogb")})
    graph = dataset[0]
    split_edge = dataset.get_edge_split()

    # 6 users and 8 items, and 28 training pairs, each added in both directions.
    assert graph["num_nodes"] == 14
    assert graph["edge_index"].shape == (2, 56)
    assert graph["node_type"].ravel().tolist() == [0] * 6 + [1] * 8
    assert split_edge["train"]["edge"].shape == (28, 2)
    test = split_edge["test"]
    # Test pairs (raw): (1,106) (2,108) (3,102) (4,104) (5,101) (6,103) -> nodes user-1, 6 + item-101.
    assert test["edge"].tolist() == [[0, 11], [1, 13], [2, 7], [3, 9], [4, 6], [5, 8]]
    assert test["target_node_neg"].shape == (6, 1)
    assert test["edge_neg"][:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert test["edge_neg"][:, 1].tolist() == test["target_node_neg"][:, 0].tolist()


def test_repeated_pair_keeps_newest_interaction(tmp_path: Path):
    dataset = tiny_dataset()
    # A second, later training interaction of user 1 with item 101 (indices 0 and 0), rated 1.
    dataset = dataclasses.replace(
        dataset,
        users=np.r_[dataset.users, 0], items=np.r_[dataset.items, 0],
        ratings=np.r_[dataset.ratings, np.float32(1.0)], timestamps=np.r_[dataset.timestamps, 881259999],
        scenarios=np.r_[dataset.scenarios, dataset.scenarios[0]], splits=np.r_[dataset.splits, np.int8(TRAIN)],
    )
    export_ogb(dataset, sample_negatives(dataset, 1, seed=0), tmp_path / "ogb", "fixed")

    train = load_ogb_export(tmp_path / "ogb").interactions("train")

    first = train[(train["user_id"] == 1) & (train["item_id"] == 101)]
    assert len(train) == 28
    assert first["rating"].tolist() == [1.0]
    assert first["timestamp"].tolist() == [881259999]


def _write_config(path: Path, **overrides) -> Path:
    path.write_text(yaml.safe_dump({
        "dataset": {"name": "ml-100k"},
        "scenario": "age-group",
        "protocol": {"kind": "sampled", "split_method": "leave-last-out", "n_negatives": 20, "seed": 9},
        "models": [{"name": "pop"}],
        **overrides,
    }), encoding="utf-8")
    return path


def test_cli_export_matches_sampled_protocol(tmp_path: Path, capsys):
    write_synthetic_ml100k(tmp_path / "data", n_users=20, n_items=60)
    config = _write_config(tmp_path / "c.yaml")

    code = main(["data", "export", "ml-100k", "--format", "ogb", "--output", str(tmp_path / "out"),
                 "--config", str(config), "--data-root", str(tmp_path / "data"), "--no-download"])

    assert code == 0
    assert "wrote 13 files" in capsys.readouterr().out
    loaded = load_ogb_export(tmp_path / "out")
    dataset = prepare_data(from_dict(BenchmarkConfig, yaml.safe_load(config.read_text())), tmp_path / "data", download=False)
    expected = sample_negatives(dataset, 20, 9)
    assert loaded.split_method == "leave-last-out"
    assert len(loaded.splits["test"]["users"]) == 20
    assert np.array_equal(loaded.splits["test"]["negatives"], expected.splits["test"].negatives)
    assert np.array_equal(loaded.splits["valid"]["negatives"], expected.splits["valid"].negatives)


def test_cli_export_too_many_default_negatives(tmp_path: Path, capsys):
    # Every synthetic user rates at least 12 of 60 items, so at most 48 are left for the default 100 negatives.
    write_synthetic_ml100k(tmp_path / "data", n_users=10, n_items=60)

    code = main(["data", "export", "ml-100k", "--format", "ogb", "--output", str(tmp_path / "out"),
                 "--data-root", str(tmp_path / "data"), "--no-download"])

    assert code == 2
    assert "lower protocol.n_negatives" in capsys.readouterr().err


def test_cli_export_rejects_other_dataset(tmp_path: Path, capsys):
    config = _write_config(tmp_path / "c.yaml")

    code = main(["data", "export", "ml-1m", "--format", "ogb", "--output", str(tmp_path / "out"),
                 "--config", str(config), "--data-root", str(tmp_path), "--no-download"])

    assert code == 2
    assert "differs from dataset.name 'ml-100k'" in capsys.readouterr().err
