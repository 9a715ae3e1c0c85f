"""graphrec tune: search spaces, budgets, folds and the best config, on a small synthetic dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from graphrec.cli import main
from graphrec.experiments.config import load_config
from graphrec.experiments.tuning import Dimension, grid_points
from helpers import write_synthetic_ml100k

CONFIG = """
dataset: {name: ml-100k}
protocol: {seed: 5, ks: [5, 10], valid_metric: ndcg@10}
train: {epochs: 2, batch_size: 256, learning_rate: 0.01}
models:
  - name: pop
  - name: bpr-mf
    params: {embedding_dim: 8}
    search:
      reg_weight: %s
      train.learning_rate: [0.01]
"""


@pytest.fixture()
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_synthetic_ml100k(root, n_users=30, n_items=40)
    return root


def tune(tmp_path: Path, data_root: Path, space: str, *extra: str, name: str = "out") -> Path:
    config = tmp_path / f"{name}.yaml"
    config.write_text(CONFIG % space, encoding="utf-8")
    output = tmp_path / name
    assert main(["tune", str(config), "--data-root", str(data_root), "--output", str(output), "--quiet", *extra]) == 0
    return output


def test_grid_trials_and_best_config(tmp_path: Path, data_root: Path):
    output = tune(tmp_path, data_root, "[0.0, 0.5]")
    trials = pd.read_csv(output / "trials.csv")

    assert trials["model"].tolist() == ["pop", "bpr-mf", "bpr-mf"]
    searched = [json.loads(p) for p in trials.loc[trials["model"] == "bpr-mf", "params"]]
    assert searched == [{"reg_weight": 0.0, "train.learning_rate": 0.01}, {"reg_weight": 0.5, "train.learning_rate": 0.01}]

    bpr = trials[trials["model"] == "bpr-mf"].reset_index(drop=True)
    best_row = bpr.loc[bpr["value"].idxmax()]
    best = yaml.safe_load((output / "best.yaml").read_text())
    assert best["models"][1]["params"]["reg_weight"] == json.loads(best_row["params"])["reg_weight"]
    assert best["models"][1]["search"] == {}

    # The best config runs as it is, and its validation value is the trial's value.
    run = tmp_path / "rerun"
    assert main(["benchmark", str(output / "best.yaml"), "--data-root", str(data_root), "--output", str(run), "--quiet"]) == 0
    metrics = pd.read_csv(run / "metrics.csv")
    valid = metrics[(metrics["model"] == "bpr-mf") & (metrics["split"] == "valid")
                    & (metrics["scenario"] == "all") & (metrics["metric"] == "ndcg@10")]
    assert valid["value"].iloc[0] == pytest.approx(best_row["value"], abs=1e-12)


def test_bayes_respects_budget_range_and_seed(tmp_path: Path, data_root: Path):
    space = "{low: 1.0e-4, high: 1.0e-1, log: true}"
    first = pd.read_csv(tune(tmp_path, data_root, space, "--method", "bayes", "--trials", "3", name="a") / "trials.csv")
    second = pd.read_csv(tune(tmp_path, data_root, space, "--method", "bayes", "--trials", "3", name="b") / "trials.csv")

    bpr = first[first["model"] == "bpr-mf"]
    assert len(bpr) == 3
    values = [json.loads(p)["reg_weight"] for p in bpr["params"]]
    assert all(1e-4 <= v <= 1e-1 for v in values)
    assert first["params"].tolist() == second["params"].tolist()
    assert first["value"].tolist() == second["value"].tolist()


def test_folds_average_validation_values(tmp_path: Path, data_root: Path):
    output = tune(tmp_path, data_root, "[0.0]", "--folds", "2")
    trials = pd.read_csv(output / "trials.csv")

    for _, row in trials.iterrows():
        folds = json.loads(row["fold_values"])
        assert len(folds) == 2
        assert row["value"] == pytest.approx(sum(folds) / 2)
    assert "mean over 2 folds" in (output / "tuning.md").read_text()


def test_grid_budget_takes_a_seeded_subset():
    dimension = Dimension("reg_weight", choices=(0.0, 0.1, 0.2, 0.3, 0.4))
    subset = grid_points([dimension], budget=2, seed=1)

    assert len(subset) == 2
    assert subset == grid_points([dimension], budget=2, seed=1)
    assert len(grid_points([dimension], budget=10, seed=1)) == 5


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("{lo: 1, high: 2}", "needs 'low' and 'high'"),
        ("[]", "list of candidates is empty"),
        ("{low: 1.0e-3, high: 1.0e-1}", "grid search needs lists"),
    ],
)
def test_bad_search_spaces(tmp_path: Path, data_root: Path, capsys, space: str, message: str):
    config = tmp_path / "bad.yaml"
    config.write_text(CONFIG % space, encoding="utf-8")

    assert main(["tune", str(config), "--data-root", str(data_root), "--output", str(tmp_path / "o"), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "trials.csv").exists()


def test_unknown_search_key(tmp_path: Path, data_root: Path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text((CONFIG % "[0.1]").replace("reg_weight:", "reg_wieght:"), encoding="utf-8")
    load_config(config)

    assert main(["tune", str(config), "--data-root", str(data_root), "--output", str(tmp_path / "o"), "--quiet"]) == 2
    assert "unknown key 'reg_wieght'" in capsys.readouterr().err
