"""Same seed, same numbers: repeated runs, interrupted and resumed runs, checkpoint checks."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch

from graphrec.cli import main
from graphrec.train import trainer as trainer_module
from graphrec.train.checkpoint import CheckpointError, load_checkpoint
from helpers import write_synthetic_ml100k

CONFIG = """
dataset: {name: ml-100k}
scenario: age-group
protocol: {seed: 7, ks: [5, 10], valid_metric: ndcg@10}
train: {epochs: 6, batch_size: 256, learning_rate: 0.01, patience: 50}
models:
  - {name: pop}
  - {name: bpr-mf, params: {embedding_dim: 8}}
  - {name: lightgcn, params: {embedding_dim: 8, n_layers: 2}}
  - {name: scenario-gnn, params: {embedding_dim: 8, n_layers: 2, structure_reg: 0.1}}
"""


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Path, Path]:
    data_root = tmp_path / "data"
    write_synthetic_ml100k(data_root)
    config = tmp_path / "small.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return data_root, config


def run(config: Path, data_root: Path, output: Path, *extra: str) -> int:
    return main(["benchmark", str(config), "--data-root", str(data_root), "--output", str(output), "--quiet", *extra])


def test_same_seed_identical_metrics(setup, tmp_path: Path):
    data_root, config = setup

    assert run(config, data_root, tmp_path / "first") == 0
    assert run(config, data_root, tmp_path / "second") == 0

    first = (tmp_path / "first" / "metrics.csv").read_bytes()
    second = (tmp_path / "second" / "metrics.csv").read_bytes()
    assert first == second
    # 4 models x 2 splits x (overall + 3 age groups) x 5 metrics x 2 cutoffs
    assert first.count(b"\n") == 1 + 4 * 2 * 4 * 5 * 2


def test_resume_after_interruption(setup, tmp_path: Path, monkeypatch):
    data_root, config = setup
    assert run(config, data_root, tmp_path / "whole") == 0

    # Interrupt lightgcn in its fourth epoch, after three epochs were checkpointed.
    original = trainer_module.Trainer._run_epoch
    calls = {"lightgcn": 0}

    def interrupted(self, *args, **kwargs):
        if self.label == "lightgcn":
            calls["lightgcn"] += 1
            if calls["lightgcn"] == 4:
                raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(trainer_module.Trainer, "_run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(config, data_root, tmp_path / "broken")
    monkeypatch.setattr(trainer_module.Trainer, "_run_epoch", original)

    last = torch.load(tmp_path / "broken" / "checkpoints" / "lightgcn-seed7" / "last.pt", weights_only=True)
    assert last["epoch"] == 3

    assert main(["benchmark", "--resume", str(tmp_path / "broken"), "--data-root", str(data_root), "--quiet"]) == 0

    whole = (tmp_path / "whole" / "metrics.csv").read_bytes()
    resumed = (tmp_path / "broken" / "metrics.csv").read_bytes()
    assert resumed == whole


def test_reproduce_reports_identical(setup, tmp_path: Path, capsys):
    data_root, config = setup
    assert run(config, data_root, tmp_path / "original") == 0

    code = main(["benchmark", "--reproduce", str(tmp_path / "original"), "--data-root", str(data_root),
                 "--output", str(tmp_path / "again"), "--quiet"])

    assert code == 0
    assert "reproduced:" in capsys.readouterr().out


def test_run_json_records_provenance(setup, tmp_path: Path):
    data_root, config = setup
    assert run(config, data_root, tmp_path / "out") == 0

    record = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))

    assert record["seeds"] == [7]
    assert set(record["packages"]) >= {"torch", "dgl", "numpy"}
    assert len(record["data_files"]) == 3
    for checksum in record["data_files"].values():
        assert len(checksum) == 64


def test_existing_output_needs_overwrite(setup, tmp_path: Path, capsys):
    data_root, config = setup
    assert run(config, data_root, tmp_path / "out") == 0

    assert run(config, data_root, tmp_path / "out") == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_checkpoint_rejects_other_model(setup, tmp_path: Path):
    data_root, config = setup
    assert run(config, data_root, tmp_path / "out") == 0
    path = tmp_path / "out" / "checkpoints" / "lightgcn-seed7" / "last.pt"
    fingerprint = torch.load(path, weights_only=True)["dataset"]

    with pytest.raises(CheckpointError, match="written by model 'lightgcn', not 'bpr-mf'"):
        load_checkpoint(path, "bpr-mf", fingerprint)


def test_checkpoint_rejects_other_dataset(setup, tmp_path: Path):
    data_root, config = setup
    assert run(config, data_root, tmp_path / "out") == 0
    path = tmp_path / "out" / "checkpoints" / "lightgcn-seed7" / "last.pt"
    fingerprint = dict(torch.load(path, weights_only=True)["dataset"], n_items=999)

    with pytest.raises(CheckpointError, match="n_items: 60 in the checkpoint, 999 now"):
        load_checkpoint(path, "lightgcn", fingerprint)


def test_checkpoint_rejects_pickled_object(tmp_path: Path):
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "payload": Path("/")}, path)

    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(path, "lightgcn", {})


def test_failed_run_folder_can_be_reused(setup, tmp_path: Path):
    data_root, config = setup
    empty = tmp_path / "empty"
    empty.mkdir()

    assert main(["benchmark", str(config), "--data-root", str(empty), "--output", str(tmp_path / "out"),
                 "--no-download", "--quiet"]) == 2
    assert run(config, data_root, tmp_path / "out") == 0


def test_result_files_follow_umask(setup, tmp_path: Path):
    data_root, config = setup
    previous = os.umask(0o022)
    try:
        assert run(config, data_root, tmp_path / "out") == 0
    finally:
        os.umask(previous)

    for name in ("metrics.csv", "config.yaml", "run.json", "table.md"):
        assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == 0o644, name


def test_benchmark_removes_its_log_handlers(setup, tmp_path: Path, capsys):
    import logging

    data_root, config = setup
    before = list(logging.getLogger().handlers)

    assert main(["benchmark", str(config), "--data-root", str(tmp_path / "none"), "--output",
                 str(tmp_path / "out"), "--no-download", "--quiet"]) == 2

    assert logging.getLogger().handlers == before
    assert capsys.readouterr().err.count("ml-100k not found") == 1
    assert "ml-100k not found" in (tmp_path / "out" / "benchmark.log").read_text(encoding="utf-8")


def test_reproduce_uses_recorded_data_root(setup, tmp_path: Path, capsys, monkeypatch):
    data_root, config = setup
    assert run(config, data_root, tmp_path / "original") == 0
    monkeypatch.delenv("GRAPHREC_DATA", raising=False)

    # No --data-root and no GRAPHREC_DATA: the data folder comes from run.json, nothing is downloaded.
    code = main(["benchmark", "--reproduce", str(tmp_path / "original"), "--output", str(tmp_path / "again"),
                 "--no-download", "--quiet"])

    assert code == 0
    assert "reproduced:" in capsys.readouterr().out
