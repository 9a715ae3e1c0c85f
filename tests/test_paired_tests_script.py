"""benchmarks/paired_tests.py across runs: common seeds, hand-computed t-test, split check."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from graphrec.experiments.comparison import load_per_user, per_user_entries, save_per_user

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks/paired_tests.py"
spec = importlib.util.spec_from_file_location("paired_tests", SCRIPT)
paired_tests = importlib.util.module_from_spec(spec)
spec.loader.exec_module(paired_tests)

CONFIG = {
    "dataset": {"name": "ml-100k"},
    "preprocess": {"k_core": 0},
    "scenario": "age-group",
    "protocol": {"kind": "topk", "split": [0.8, 0.1, 0.1], "seed": 2020, "ks": [10]},
}


def make_run(path: Path, per_seed: dict[str, dict[int, list[float]]], config: dict = CONFIG) -> Path:
    """Write a run folder whose per-user ndcg@10 values are given per model and seed (users 1..n)."""
    path.mkdir()
    (path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (path / "id-maps.json").write_text(json.dumps({"user_ids": [1, 2, 3, 4]}), encoding="utf-8")
    rows = []
    for label, seeds in per_seed.items():
        for seed, values in seeds.items():
            users = np.arange(1, len(values) + 1)
            save_per_user(path, label, seed, {"users": users, "ndcg@10": np.array(values)})
            rows.append({"model": label, "seed": seed, "split": "test", "scenario": "all",
                         "metric": "ndcg@10", "value": float(np.mean(values))})
    pd.DataFrame(rows).to_csv(path / "metrics.csv", index=False)
    return path


def t3_two_sided(t: float) -> float:
    """Two-sided p-value of Student's t with 3 degrees of freedom (closed form)."""
    x = t / math.sqrt(3.0)
    cdf = 0.5 + (x / (1.0 + x * x) + math.atan(x)) / math.pi
    return 2.0 * (1.0 - cdf)


def test_pair_across_runs_uses_common_seeds(tmp_path, capsys):
    # Seed means: full = [0.5, 0.2, 0.9, 0.4], ablated = [0.3, 0.2, 0.6, 0.1].
    # The full model's seed 2022 has all zeros, so counting it would change the result.
    full = {2020: [0.6, 0.1, 1.0, 0.4], 2021: [0.4, 0.3, 0.8, 0.4], 2022: [0.0, 0.0, 0.0, 0.0]}
    ablated = {2020: [0.3, 0.2, 0.6, 0.1], 2021: [0.3, 0.2, 0.6, 0.1]}
    main_run = make_run(tmp_path / "main", {"full": full})
    ablation = make_run(tmp_path / "ablation", {"ablated": ablated})

    paired_tests.main([str(ablation), "--with", str(main_run), "--pairs", "full:ablated", "--test", "ttest"])

    # Differences [0.2, 0, 0.3, 0.3]: mean 0.2, sample std sqrt(0.02), t = 0.2 / (sqrt(0.02) / 2).
    t = 0.2 / (math.sqrt(0.02) / 2.0)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    cells = [cell.strip() for cell in last.strip("|").split("|")]
    assert cells[:7] == ["full", "ablated", "0.5000", "0.3000", "+0.2000", "2", "4"]
    assert float(cells[7]) == pytest.approx(t3_two_sided(t), rel=1e-2)


def test_other_split_rejected(tmp_path):
    other_config = {**CONFIG, "scenario": "genre-channel"}
    main_run = make_run(tmp_path / "main", {"full": {2020: [0.5, 0.5, 0.5, 0.5]}})
    other = make_run(tmp_path / "other", {"ablated": {2020: [0.1, 0.1, 0.1, 0.1]}}, other_config)

    with pytest.raises(SystemExit, match="differ in scenario"):
        paired_tests.main([str(main_run), "--with", str(other), "--pairs", "full:ablated"])


def test_unknown_label_lists_known(tmp_path):
    run = make_run(tmp_path / "main", {"full": {2020: [0.5, 0.5, 0.5, 0.5]}, "pop": {2020: [0.1] * 4}})

    with pytest.raises(SystemExit, match="known models: full, pop"):
        paired_tests.main([str(run), "--pairs", "full:lightgcn"])


def test_per_user_file_keeps_scenario_groups(tmp_path):
    per_user = {
        "all": {"users": np.array([0, 1, 2]), "ndcg@10": np.array([0.1, 0.2, 0.3])},
        "drama": {"users": np.array([1, 2]), "ndcg@10": np.array([0.5, 0.6])},
        "drama/cold-start": {"users": np.array([2]), "ndcg@10": np.array([0.6])},
    }
    save_per_user(tmp_path, "m", 1, per_user_entries(per_user))

    users, values = load_per_user(tmp_path, "m", 1, "ndcg@10")
    assert users.tolist() == [0, 1, 2]
    assert values.tolist() == [0.1, 0.2, 0.3]
    users, values = load_per_user(tmp_path, "m", 1, "ndcg@10", "drama/cold-start")
    assert users.tolist() == [2]
    assert values.tolist() == [0.6]
    assert load_per_user(tmp_path, "m", 1, "ndcg@10", "comedy") is None


def test_pair_on_one_scenario(tmp_path, capsys):
    # In scenario "drama", users 1 to 3 score 0.4, 0.6, 0.8 under a and 0.2, 0.3, 0.4 under b.
    run = scenario_run(tmp_path / "run", {"a": [0.4, 0.6, 0.8], "b": [0.2, 0.3, 0.4]}, [1, 2, 3])

    paired_tests.main([str(run), "--pairs", "a:b", "--scenario", "drama", "--test", "ttest"])

    # Differences 0.2, 0.3, 0.4: mean 0.3, sample std 0.1, t = 0.3 / (0.1 / sqrt(3)) with 2 degrees of freedom.
    t = 0.3 / (0.1 / math.sqrt(3.0))
    p_value = 1.0 - t / math.sqrt(2.0 + t * t)
    cells = [cell.strip() for cell in capsys.readouterr().out.strip().splitlines()[-1].strip("|").split("|")]
    assert cells[:7] == ["a", "b", "0.6000", "0.3000", "+0.3000", "1", "3"]
    assert float(cells[7]) == pytest.approx(p_value, rel=1e-2)


def scenario_run(path: Path, drama: dict[str, list[float]], drama_users: list[int]) -> Path:
    """Write a run whose models score 0.5 for users 1..4 overall and the given values in scenario "drama"."""
    make_run(path, {label: {2020: [0.5] * 4} for label in drama})
    for label, values in drama.items():
        per_user = {
            "all": {"users": np.arange(1, 5), "ndcg@10": np.full(4, 0.5)},
            "drama": {"users": np.array(drama_users), "ndcg@10": np.array(values)},
        }
        save_per_user(path, label, 2020, per_user_entries(per_user))
    return path


def test_misspelled_scenario_lists_groups(tmp_path):
    run = scenario_run(tmp_path / "run", {"a": [0.4, 0.6], "b": [0.2, 0.3]}, [1, 2])

    with pytest.raises(SystemExit, match="stored groups: all, drama"):
        paired_tests.main([str(run), "--pairs", "a:b", "--scenario", "dram"])


def test_one_user_group_fails_cleanly(tmp_path):
    run = scenario_run(tmp_path / "run", {"a": [0.4], "b": [0.2]}, [3])

    with pytest.raises(SystemExit, match="share 1 user"):
        paired_tests.main([str(run), "--pairs", "a:b", "--scenario", "drama"])


def test_missing_metric_lists_computed(tmp_path):
    run = make_run(tmp_path / "run", {"a": {2020: [0.5] * 4}, "b": {2020: [0.1] * 4}})

    with pytest.raises(SystemExit, match="computed metrics: ndcg@10"):
        paired_tests.main([str(run), "--pairs", "a:b", "--metric", "ndcg@5"])


def test_split_difference_names_key(tmp_path):
    main_run = make_run(tmp_path / "main", {"a": {2020: [0.5] * 4}})
    other_protocol = {**CONFIG["protocol"], "split_method": "scenario-holdout"}
    other = make_run(tmp_path / "other", {"b": {2020: [0.1] * 4}}, {**CONFIG, "protocol": other_protocol})

    with pytest.raises(SystemExit, match="differ in protocol.split_method"):
        paired_tests.main([str(main_run), "--with", str(other), "--pairs", "a:b"])
