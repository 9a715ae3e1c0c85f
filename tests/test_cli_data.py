"""The data inspection commands on a small synthetic ml-100k folder."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from graphrec.cli import main
from helpers import write_synthetic_ml100k


def test_data_stats_json(tmp_path: Path, capsys):
    write_synthetic_ml100k(tmp_path / "data", n_users=10, n_items=30)
    lines = (tmp_path / "data" / "ml-100k" / "u.data").read_text(encoding="latin-1").splitlines()
    plot = tmp_path / "degrees.png"

    code = main(["data", "stats", "ml-100k", "--data-root", str(tmp_path / "data"), "--format", "json",
                 "--plot", str(plot), "--no-download"])

    stats = json.loads(capsys.readouterr().out)
    assert code == 0
    assert stats["interactions"] == len(lines)
    assert stats["users"] == 10
    assert stats["density"] == len(lines) / (10 * stats["items"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scenarios_describe(tmp_path: Path, capsys):
    write_synthetic_ml100k(tmp_path / "data", n_users=10, n_items=30)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"scenario": "age-group", "models": [{"name": "pop"}]}), encoding="utf-8")
    # Ages are 18 + (7 * user) % 50, so users 1..10 are 25, 32, 39, 46, 53, 60, 67, 24, 31, 38.
    # User 8 is under 25, users 1, 2 and 9 are 25-34, and the other six are 35 or over.
    expected_users = {"under-25": 1, "25-34": 3, "35-plus": 6}

    code = main(["scenarios", "describe", str(config), "--data-root", str(tmp_path / "data"), "--no-download"])

    out = capsys.readouterr().out
    assert code == 0
    for name, users in expected_users.items():
        row = next(line for line in out.splitlines() if line.startswith(f"| {name} |") and line.count("|") == 5)
        assert row.split("|")[3].strip() == str(users), row


def test_split_files_reproduce_internal_split(tmp_path: Path):
    """Exported split files fed back with split_method files give the same metrics.csv."""
    write_synthetic_ml100k(tmp_path / "data", n_users=30, n_items=40)
    data_root = str(tmp_path / "data")
    base = {
        "scenario": "age-group",
        "protocol": {"seed": 3, "ks": [5], "valid_metric": "ndcg@5"},
        "train": {"epochs": 3, "batch_size": 128, "learning_rate": 0.01},
        "models": [{"name": "pop"}, {"name": "bpr-mf", "params": {"embedding_dim": 8}}],
    }
    internal = tmp_path / "internal.yaml"
    internal.write_text(yaml.safe_dump(base), encoding="utf-8")
    assert main(["data", "export-split", str(internal), "--output", str(tmp_path / "split"), "--data-root", data_root]) == 0

    from_files = dict(base, protocol=dict(base["protocol"], split_method="files", unseen_policy="keep", split_files={
        part: str(tmp_path / "split" / f"{part}.csv") for part in ("train", "valid", "test")
    }))
    files_config = tmp_path / "files.yaml"
    files_config.write_text(yaml.safe_dump(from_files), encoding="utf-8")

    for config, out in ((internal, "run-internal"), (files_config, "run-files")):
        assert main(["benchmark", str(config), "--data-root", data_root, "--output", str(tmp_path / out), "--quiet"]) == 0

    internal_metrics = (tmp_path / "run-internal" / "metrics.csv").read_text(encoding="utf-8")
    files_metrics = (tmp_path / "run-files" / "metrics.csv").read_text(encoding="utf-8")
    assert internal_metrics.count("\n") > 1
    assert files_metrics == internal_metrics


def test_ctr_benchmark_writes_auc_rows(tmp_path: Path):
    write_synthetic_ml100k(tmp_path / "data", n_users=30, n_items=40)
    config = tmp_path / "ctr.yaml"
    config.write_text(yaml.safe_dump({
        "scenario": "age-group",
        "protocol": {"kind": "ctr", "split_method": "interactions", "seed": 1},
        "train": {"epochs": 2, "batch_size": 128, "learning_rate": 0.01},
        "models": [{"name": "pop"}, {"name": "bpr-mf", "params": {"embedding_dim": 8}}],
    }), encoding="utf-8")

    code = main(["benchmark", str(config), "--data-root", str(tmp_path / "data"),
                 "--output", str(tmp_path / "run"), "--quiet"])

    import pandas as pd

    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    table = (tmp_path / "run" / "table.md").read_text(encoding="utf-8")
    assert code == 0
    assert "| model | scenario | auc | logloss |" in table
    assert "n/a" not in table.split("| pop | all |")[1].splitlines()[0]
    assert set(metrics["metric"]) == {"auc", "logloss"}
    assert set(metrics["scenario"]) == {"all", "under-25", "25-34", "35-plus"}
    assert set(metrics["split"]) == {"valid", "test"}
    # 2 models x 2 splits x 4 scenario groups x 2 metrics
    assert len(metrics) == 32


def test_ctr_rejects_per_user_split(tmp_path: Path, capsys):
    config = tmp_path / "ctr.yaml"
    config.write_text(yaml.safe_dump({"protocol": {"kind": "ctr"}, "models": [{"name": "pop"}]}), encoding="utf-8")

    code = main(["benchmark", str(config), "--data-root", str(tmp_path), "--output", str(tmp_path / "run")])

    assert code == 2
    assert "set protocol.split_method to interactions" in capsys.readouterr().err


def test_rating_protocol_writes_rmse_rows(tmp_path: Path):
    write_synthetic_ml100k(tmp_path / "data", n_users=30, n_items=40)
    config = tmp_path / "rating.yaml"
    config.write_text(yaml.safe_dump({
        "scenario": "age-group",
        "protocol": {"kind": "rating", "split_method": "interactions", "seed": 1},
        "train": {"epochs": 3, "batch_size": 128, "learning_rate": 0.01},
        "models": [{"name": "bpr-mf", "params": {"embedding_dim": 8}}],
    }), encoding="utf-8")

    code = main(["benchmark", str(config), "--data-root", str(tmp_path / "data"),
                 "--output", str(tmp_path / "run"), "--quiet"])

    import pandas as pd

    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert code == 0
    assert set(metrics["metric"]) == {"rmse", "mae"}
    overall = metrics[(metrics["split"] == "test") & (metrics["scenario"] == "all")].set_index("metric")["value"]
    # Ratings are uniform on 1..5, so predicting the mean gives RMSE about sqrt(2) = 1.41;
    # a model near the mean must land close to that and far below the 1..5 range.
    assert 0.5 < overall["rmse"] < 2.0
    assert overall["mae"] <= overall["rmse"]


def test_benchmark_applies_preprocessing(tmp_path: Path):
    from graphrec.experiments.config import from_dict, BenchmarkConfig
    from graphrec.experiments.runner import prepare_data

    write_synthetic_ml100k(tmp_path / "data", n_users=20, n_items=30)
    lines = (tmp_path / "data" / "ml-100k" / "u.data").read_text(encoding="latin-1").splitlines()
    kept = sum(1 for line in lines if int(line.split("\t")[2]) >= 4)
    config = from_dict(BenchmarkConfig, {
        "preprocess": {"implicit_threshold": 4},
        "protocol": {"split_method": "interactions"},
        "models": [{"name": "pop"}],
    })

    dataset = prepare_data(config, tmp_path / "data", download=False)

    assert len(dataset.ratings) == kept
    assert dataset.ratings.min() >= 4


def test_version_flag(capsys):
    import pytest

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])

    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == "graphrec 0.1.0"
