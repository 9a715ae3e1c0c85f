"""Every benchmark config shipped in benchmarks/configs/ and experiments/ loads and validates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from graphrec.experiments.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted([*ROOT.glob("benchmarks/configs/*.yaml"), *ROOT.glob("experiments/**/*.yaml")])


def read(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def is_benchmark_config(path: Path) -> bool:
    data = read(path)
    return "models" in data and "rl" not in data


@pytest.mark.parametrize("path", [p for p in CONFIGS if is_benchmark_config(p)], ids=lambda p: p.name)
def test_config_validates(path: Path):
    config = load_config(path)

    assert config.models
    for model in config.models:
        assert model.train["epochs"] >= 1


@pytest.mark.parametrize("path", [p for p in CONFIGS if "rl" in read(p)], ids=lambda p: p.name)
def test_rl_config_validates(path: Path):
    from graphrec.rl.config import load_rl_config

    assert load_rl_config(path).models
