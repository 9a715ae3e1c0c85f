"""Paired tests over users, checked against values worked out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.cli import main
from graphrec.errors import ConfigError
from graphrec.eval.significance import average_over_seeds, paired_test
from graphrec.experiments.comparison import compare_best, save_per_user
from graphrec.experiments.config import SignificanceConfig, from_dict, BenchmarkConfig, validate_semantics
from helpers import write_synthetic_ml100k


def t3_cdf(t: float) -> float:
    """CDF of Student's t with 3 degrees of freedom (closed form)."""
    x = t / math.sqrt(3.0)
    return 0.5 + (x / (1.0 + x * x) + math.atan(x)) / math.pi


def test_ttest_matches_hand_value():
    a = np.array([0.5, 0.2, 0.9, 0.4])
    b = np.array([0.3, 0.2, 0.6, 0.1])
    # d = [0.2, 0, 0.3, 0.3], mean 0.2, sample std sqrt(0.06 / 3), so t = 0.2 / (sqrt(0.02) / 2).
    t = 0.2 / (math.sqrt(0.02) / 2.0)
    result = paired_test(a, b, "ttest", "A", "B", "ndcg@10")

    assert result.statistic == pytest.approx(t, rel=1e-9)
    assert result.p_value == pytest.approx(2.0 * (1.0 - t3_cdf(t)), rel=1e-6)
    assert result.difference == pytest.approx(0.2)
    assert result.n_users == 4


def test_wilcoxon_exact_p_value():
    b = np.zeros(5)
    a = np.array([1.0, -2.0, 3.0, 4.0, 5.0])
    # Ranks of |d| are 1..5; the negative rank sum is 2. Subsets of {1..5}
    # with a sum of at most 2: {}, {1}, {2}, so the two-sided p is 2 * 3 / 32.
    result = paired_test(a, b, "wilcoxon")

    assert result.statistic == 2.0
    assert result.p_value == pytest.approx(2 * 3 / 32)
    assert not result.significant(0.05)


def test_identical_values_p_one():
    values = np.array([0.1, 0.4, 0.2])
    assert paired_test(values, values, "wilcoxon").p_value == 1.0
    assert paired_test(values, values, "ttest").p_value == 1.0


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="equal length"):
        paired_test(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="unknown test"):
        paired_test(np.zeros(3), np.ones(3), "sign")


def test_seed_average_common_users():
    runs = [
        (np.array([0, 1, 2]), np.array([0.2, 0.4, 0.6])),
        (np.array([2, 0]), np.array([1.0, 0.0])),
    ]
    users, values = average_over_seeds(runs)

    assert users.tolist() == [0, 2]
    assert values.tolist() == pytest.approx([0.1, 0.8])


def _rows(label: str, seed: int, value: float) -> dict:
    return {"model": label, "seed": seed, "split": "test", "scenario": "all", "metric": "ndcg@10", "value": value}


def test_compare_best_pair_choice(tmp_path: Path):
    users = np.arange(6)
    per_model = {
        "A": np.array([0.1, 0.2, 0.0, 0.3, 0.1, 0.2]),
        "B": np.array([0.2, 0.3, 0.1, 0.3, 0.2, 0.3]),
        "C": np.array([0.4, 0.5, 0.3, 0.6, 0.2, 0.5]),
    }
    rows = []
    for label, values in per_model.items():
        save_per_user(tmp_path, label, 1, {"users": users, "ndcg@10": values})
        rows.append(_rows(label, 1, float(values.mean())))
    metrics = pd.DataFrame(rows)

    # A is ours; the best baseline is C, although A scores lowest.
    result = compare_best(metrics, tmp_path, SignificanceConfig(test="ttest", ours=["A"]))
    assert (result.model_a, result.model_b) == ("A", "C")
    d = per_model["A"] - per_model["C"]
    assert result.statistic == pytest.approx(d.mean() / (d.std(ddof=1) / math.sqrt(6)))

    # Without 'ours' the best model meets the runner-up.
    result = compare_best(metrics, tmp_path, SignificanceConfig(test="ttest"))
    assert (result.model_a, result.model_b) == ("C", "B")


def test_config_rejects_bad_settings():
    base = {"models": [{"name": "pop"}, {"name": "bpr-mf"}]}
    config = from_dict(BenchmarkConfig, {**base, "significance": {"ours": ["lightgcn"]}})
    with pytest.raises(ConfigError, match="not model labels"):
        validate_semantics(config)
    config = from_dict(BenchmarkConfig, {**base, "significance": {"test": "sign"}})
    with pytest.raises(ConfigError, match="valid tests"):
        validate_semantics(config)
    config = from_dict(BenchmarkConfig, {**base, "significance": {"metric": "ndcg@50"}})
    with pytest.raises(ConfigError, match="not computed"):
        validate_semantics(config)


def test_benchmark_writes_significance(tmp_path: Path):
    data_root = tmp_path / "data"
    write_synthetic_ml100k(data_root)
    config = tmp_path / "small.yaml"
    config.write_text(
        "protocol: {seed: 3, ks: [5, 10], valid_metric: ndcg@10}\n"
        "train: {epochs: 2, batch_size: 256}\n"
        "models: [{name: pop}, {name: bpr-mf, params: {embedding_dim: 8}}]\n"
        "significance: {ours: [bpr-mf], test: ttest}\n",
        encoding="utf-8",
    )
    output = tmp_path / "run"
    assert main(["benchmark", str(config), "--data-root", str(data_root), "--output", str(output),
                 "--quiet", "--seeds", "2"]) == 0

    saved = json.loads((output / "significance.json").read_text())
    assert (saved["model_a"], saved["model_b"]) == ("bpr-mf", "pop")
    # Recompute the test from the per-user files: average the two seeds per user, then pair.
    values = {}
    for label in ("bpr-mf", "pop"):
        runs = []
        for seed in (3, 4):
            with np.load(output / "per-user" / f"{label}-seed{seed}.npz") as data:
                runs.append(dict(zip(data["users"].tolist(), data["ndcg@10"].tolist())))
        values[label] = {u: (runs[0][u] + runs[1][u]) / 2 for u in runs[0]}
    users = sorted(values["pop"])
    d = np.array([values["bpr-mf"][u] - values["pop"][u] for u in users])
    assert saved["n_users"] == len(users)
    assert saved["statistic"] == pytest.approx(d.mean() / (d.std(ddof=1) / math.sqrt(len(d))))
    assert "paired t-test" in (output / "significance.md").read_text()


def test_benchmark_writes_scenario_bars(tmp_path: Path):
    data_root = tmp_path / "data"
    write_synthetic_ml100k(data_root)
    config = tmp_path / "small.yaml"
    config.write_text("protocol: {seed: 3}\nmodels: [{name: pop}]\n", encoding="utf-8")
    output = tmp_path / "run"

    assert main(["benchmark", str(config), "--data-root", str(data_root), "--output", str(output), "--quiet"]) == 0
    assert (output / "scenarios.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # age-group is user level, so there are no cold-start users to plot.
    assert not (output / "scenarios-cold-start.png").exists()
    # One model: no pair to test.
    assert not (output / "significance.json").exists()


def test_benchmark_writes_cold_start_bars(tmp_path: Path):
    data_root = tmp_path / "data"
    write_synthetic_ml100k(data_root)
    config = tmp_path / "holdout.yaml"
    config.write_text(
        "scenario: genre-channel\nprotocol: {seed: 3, split_method: scenario-holdout, holdout_share: 0.5}\n"
        "models: [{name: pop}]\n",
        encoding="utf-8",
    )
    output = tmp_path / "run"

    assert main(["benchmark", str(config), "--data-root", str(data_root), "--output", str(output), "--quiet"]) == 0

    assert (output / "scenarios-cold-start.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
