"""``graphrec rl evaluate`` on a small synthetic ml-100k folder, and its config checks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from graphrec.cli import main
from graphrec.data.split import TEST
from graphrec.experiments.runner import prepare_data
from graphrec.rl.config import load_rl_config
from helpers import write_synthetic_ml100k

POLICIES = ["greedy", "linucb", "thompson", "epsilon-greedy"]
SCENARIOS = ["all", "under-25", "25-34", "35-plus"]
REPLAY_METRICS = ["events", "outside_candidates", "matched", "match_rate", "cumulative_reward", "reward_rate"]
SIMULATOR_METRICS = [
    "events", "cumulative_reward", "reward_rate", "expected_reward_rate", "best_reward_rate", "cumulative_regret",
]


def rl_config(**changes) -> dict:
    config = {
        "scenario": "age-group",
        "protocol": {"split_method": "temporal", "seed": 3, "ks": [10], "valid_metric": "ndcg@10"},
        "train": {"epochs": 2, "batch_size": 128, "learning_rate": 0.01},
        "models": [{"name": "lightgcn", "params": {"embedding_dim": 8, "n_layers": 2}}],
        "seeds": 2,
        "rl": {
            "candidates": 10,
            "simulator": {"epochs": 2},
            "policies": [
                {"name": "greedy"},
                {"name": "linucb", "params": {"alpha": 0.5, "prior_weight": 0.5}},
                {"name": "thompson", "params": {"v": 0.2, "prior_weight": 0.5}},
                {"name": "epsilon-greedy", "params": {"epsilon": 0.2}},
            ],
        },
    }
    config.update(changes)
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("rl")
    write_synthetic_ml100k(root / "data", n_users=40, n_items=60)
    config = write_config(root / "rl.yaml", rl_config())
    output = root / "out"
    code = main(["rl", "evaluate", str(config), "--data-root", str(root / "data"), "--output", str(output), "--quiet"])
    return {"code": code, "root": root, "config": config, "output": output}


def test_evaluate_writes_outputs(run):
    output = run["output"]
    assert run["code"] == 0
    for name in ("config.yaml", "run.json", "metrics.csv", "base_metrics.csv", "significance.csv", "results.md"):
        assert (output / name).is_file(), name
    for mode in ("replay", "simulator"):
        assert (output / f"cumulative-reward-{mode}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (output / "checkpoints" / "policy-linucb-replay-seed3.pt").is_file()
    assert (output / "checkpoints" / "policy-thompson-simulator-seed4.pt").is_file()


def test_metrics_rows_complete(run):
    metrics = pd.read_csv(run["output"] / "metrics.csv")

    assert list(metrics.columns) == ["policy", "seed", "mode", "scenario", "metric", "value"]
    # 4 policies x 2 seeds x 4 scenarios x 6 metrics, per mode.
    for mode, names in (("replay", REPLAY_METRICS), ("simulator", SIMULATOR_METRICS)):
        block = metrics[metrics["mode"] == mode]
        assert len(block) == 4 * 2 * 4 * 6, mode
        assert set(block["policy"]) == set(POLICIES)
        assert set(block["seed"]) == {3, 4}
        assert set(block["scenario"]) == set(SCENARIOS)
        assert set(block["metric"]) == set(names)


def test_events_match_test_split(run):
    """Every policy is evaluated on every test interaction once, overall and split by scenario."""
    config = load_rl_config(run["config"])
    dataset = prepare_data(config, run["root"] / "data")
    n_test = int((dataset.splits == TEST).sum())
    metrics = pd.read_csv(run["output"] / "metrics.csv")
    events = metrics[metrics["metric"] == "events"]

    assert set(events.loc[events["scenario"] == "all", "value"]) == {n_test}
    per_scenario = events[events["scenario"] != "all"].groupby(["policy", "seed", "mode"])["value"].sum()
    assert set(per_scenario) == {n_test}


def test_replay_counts_consistent(run):
    metrics = pd.read_csv(run["output"] / "metrics.csv")
    replay = metrics[(metrics["mode"] == "replay") & (metrics["scenario"] == "all")]
    table = replay.pivot_table(index=["policy", "seed"], columns="metric", values="value")

    # The candidates come from the base model of the seed, not from the policy.
    assert table.groupby("seed")["outside_candidates"].nunique().max() == 1
    assert (table["matched"] <= table["events"] - table["outside_candidates"]).all()
    assert (table["cumulative_reward"] <= table["matched"]).all()


def test_significance_rows(run):
    tests = pd.read_csv(run["output"] / "significance.csv")
    # 3 policies x 2 metrics x 2 modes, each tested against greedy over 2 seeds.
    assert len(tests) == 12
    assert set(tests["policy"]) == {"linucb", "thompson", "epsilon-greedy"}
    assert set(tests["reference"]) == {"greedy"}
    # A replay seed without matched events has no reward rate, so that pair drops out of the test.
    assert set(tests.loc[tests["metric"] == "cumulative_reward", "n_seeds"]) == {2}
    assert tests["n_seeds"].between(0, 2).all()


def test_evaluate_repeats_for_seed(run, tmp_path: Path):
    output = tmp_path / "again"
    code = main(["rl", "evaluate", str(run["config"]), "--data-root", str(run["root"] / "data"),
                 "--output", str(output), "--quiet"])

    assert code == 0
    assert (output / "metrics.csv").read_bytes() == (run["output"] / "metrics.csv").read_bytes()


def test_refuses_folder_with_results(run, capsys):
    code = main(["rl", "evaluate", str(run["config"]), "--data-root", str(run["root"] / "data"),
                 "--output", str(run["output"]), "--quiet"])

    assert code == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"protocol": {"split_method": "random", "ks": [10], "valid_metric": "ndcg@10"}}, "temporal"),
        ({"models": [{"name": "pop"}, {"name": "lightgcn"}]}, "exactly one base model"),
        ({"rl": {"policies": [{"name": "linucb"}]}}, "greedy"),
        ({"rl": {"policies": [{"name": "greedy"}, {"name": "linucb", "params": {"alpah": 1.0}}]}}, "did you mean 'alpha'"),
        ({"rl": {"policies": [{"name": "greedy"}, {"name": "epsilon-greedy", "params": {"epsilon": 2.0}}]}}, "epsilon"),
        ({"rl": {"modes": ["replay", "online"]}}, "rl.modes"),
        ({"rl": {"candidate": 50}}, "did you mean 'candidates'"),
    ],
)
def test_config_errors(tmp_path: Path, capsys, changes: dict, message: str):
    config = write_config(tmp_path / "bad.yaml", rl_config(**changes))

    code = main(["rl", "evaluate", str(config), "--data-root", str(tmp_path), "--output", str(tmp_path / "out")])

    assert code == 2
    assert message in capsys.readouterr().err
