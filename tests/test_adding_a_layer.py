"""Run docs/adding-a-layer.md end to end, so the page cannot go stale.

The test reads the page's fenced code blocks in order. The first Python block
is the layer; it is executed as the module ``graphrec.nn.scenario_scale``,
as if saved at the path the page names. The YAML block is the benchmark
config, shrunk to two epochs, one seed and 8 dimensions so the test stays
short. The second Python block (the check) and the bash command run with
HOME set to a temporary folder that has synthetic ml-100k data under
``~/data``.
"""

from __future__ import annotations

import re
import shlex
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import write_synthetic_ml100k

from graphrec.cli import main
from graphrec.nn.registry import LAYERS

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding-a-layer.md"
MODULE = "graphrec.nn.scenario_scale"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(language: str) -> list[str]:
    """Return the page's fenced blocks of one language, in page order."""
    return [body for lang, body in FENCE.findall(DOC.read_text(encoding="utf-8")) if lang == language]


def shrink(config: dict) -> dict:
    """Cut the page's config down to a test-sized run, leaving the layer choices as they are."""
    config["train"]["epochs"] = 2
    config["train"]["batch_size"] = 256
    config["seeds"] = 1
    for model in config["models"]:
        model["params"].update(embedding_dim=8, n_layers=2)
    return config


@pytest.fixture
def layer_module():
    """Execute the page's layer code as graphrec.nn.scenario_scale; unregister it afterwards."""
    assert MODULE not in sys.modules, f"{MODULE} exists in the package; the page's example must stay an example"
    module = types.ModuleType(MODULE)
    exec(compile(code_blocks("python")[0], f"{DOC}:layer", "exec"), module.__dict__)
    sys.modules[MODULE] = module
    yield module
    sys.modules.pop(MODULE, None)
    LAYERS.pop("scenario-scale", None)


def test_page_has_expected_blocks():
    assert len(code_blocks("python")) == 2
    assert len(code_blocks("yaml")) == 1
    assert len(code_blocks("bash")) == 1


def test_layer_example_is_about_30_lines():
    lines = [line for line in code_blocks("python")[0].splitlines() if line.strip()]

    assert len(lines) <= 35


def test_layer_example_runs_end_to_end(layer_module, tmp_path, monkeypatch):
    home = tmp_path / "home"
    write_synthetic_ml100k(home / "data")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    config = shrink(yaml.safe_load(code_blocks("yaml")[0]))
    (home / "my-layer.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert LAYERS["scenario-scale"] is layer_module.ScenarioScaleConv

    exec(compile(code_blocks("python")[1], f"{DOC}:check", "exec"), {"__name__": "doc_check"})

    command = shlex.split(code_blocks("bash")[0].strip())
    assert command[:3] == ["graphrec", "benchmark", "my-layer.yaml"]
    arguments = [str(Path(a).expanduser()) if a.startswith("~") else a for a in command[1:]]
    assert main([*arguments, "--quiet"]) == 0

    output = home / "results" / "my-layer"
    metrics = pd.read_csv(output / "metrics.csv")
    test_ndcg = metrics[(metrics["split"] == "test") & (metrics["scenario"] == "all") & (metrics["metric"] == "ndcg@10")]
    assert sorted(test_ndcg["model"]) == ["scenario-conv", "scenario-scale"]
    assert (output / "table.md").is_file()
    assert (output / "transfer-scenario-scale-seed2020.png").is_file()
    assert "ScenarioScaleConv" in (output / "benchmark.log").read_text(encoding="utf-8")
