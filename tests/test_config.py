"""Tests for loading and validating benchmark YAML files (graphrec.experiments.config)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from graphrec.errors import ConfigError
from graphrec.experiments.config import BenchmarkConfig, load_config

VALID_YAML = """\
dataset:
  name: ml-100k
scenario: genre-channel
protocol:
  split: [0.8, 0.1, 0.1]
  seed: 7
  ks: [5, 10]
  metrics: [recall, ndcg]
  valid_metric: ndcg@10
  eval_batch_size: 256
train:
  epochs: 20
  batch_size: 512
  learning_rate: 0.01
  weight_decay: 0
  patience: 3
  eval_every: 2
seeds: 2
models:
  - name: pop
  - name: bpr-mf
    params:
      embedding_dim: 32
      reg_weight: 0
  - name: scenario-gnn
    label: scenario-gnn-pooled
    params:
      n_layers: 2
      transfer: pooled
      gating: false
    train:
      epochs: 5
      learning_rate: 0.005
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "benchmark.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def replace_line(old: str, new: str) -> str:
    assert old in VALID_YAML, old
    return VALID_YAML.replace(old, new, 1)


def test_load_valid_config(tmp_path):
    config = load_config(write(tmp_path, VALID_YAML))

    assert isinstance(config, BenchmarkConfig)
    assert config.dataset.name == "ml-100k"
    assert config.scenario == "genre-channel"
    assert config.protocol.split == [0.8, 0.1, 0.1]
    assert config.protocol.seed == 7
    assert config.protocol.ks == [5, 10]
    assert config.protocol.metrics == ["recall", "ndcg"]
    assert config.protocol.valid_metric == "ndcg@10"
    assert config.protocol.eval_batch_size == 256
    assert config.train.epochs == 20
    assert config.train.patience == 3
    assert config.seeds == 2
    assert [m.name for m in config.models] == ["pop", "bpr-mf", "scenario-gnn"]
    assert [m.display_name for m in config.models] == ["pop", "bpr-mf", "scenario-gnn-pooled"]


def test_int_accepted_for_float(tmp_path):
    config = load_config(write(tmp_path, VALID_YAML))

    assert config.train.weight_decay == 0.0
    assert isinstance(config.train.weight_decay, float)
    assert isinstance(config.models[1].params["reg_weight"], float)


def test_model_params_kept(tmp_path):
    config = load_config(write(tmp_path, VALID_YAML))

    assert config.models[1].params == {"embedding_dim": 32, "reg_weight": 0.0}
    # Given values are kept and every other hyper-parameter gets the constructor default.
    assert config.models[2].params == {
        "embedding_dim": 64, "n_layers": 2, "reg_weight": 1e-4, "structure_reg": 0.0, "layer": "scenario-conv",
        "gating": False, "scenario_nodes": True, "transfer": "pooled", "text_init": None,
    }


def test_defaults_fill_missing_sections(tmp_path):
    config = load_config(write(tmp_path, "models:\n  - name: pop\n"))

    assert config.dataset.name == "ml-100k"
    assert config.scenario == "age-group"
    assert config.protocol.split == [0.8, 0.1, 0.1]
    assert config.protocol.valid_metric == "mrr@10"
    assert config.train.epochs == 300
    assert config.seeds == 1


def test_train_override_merges_with_global(tmp_path):
    config = load_config(write(tmp_path, VALID_YAML))

    override = config.models[2].train
    # Overridden by the model entry.
    assert override["epochs"] == 5
    assert override["learning_rate"] == 0.005
    # Taken from the global train section.
    assert override["batch_size"] == 512
    assert override["patience"] == 3
    assert override["eval_every"] == 2
    assert override["weight_decay"] == 0.0


def test_no_override_copies_global_train(tmp_path):
    config = load_config(write(tmp_path, VALID_YAML))

    assert config.models[1].train == {
        "epochs": 20,
        "batch_size": 512,
        "learning_rate": 0.01,
        "weight_decay": 0.0,
        "patience": 3,
        "eval_every": 2,
    }


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, replace_line("protocol:\n", "protocl:\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "'protocl'" in message
    assert "did you mean 'protocol'" in message
    for key in ("dataset", "scenario", "protocol", "train", "models", "seeds"):
        assert key in message
    assert str(path) in message


def test_unknown_nested_key(tmp_path):
    path = write(tmp_path, replace_line("  patience: 3\n", "  patient: 3\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    # The key may be quoted as train.'patient' or 'train.patient'.
    assert re.search(r"train\.'?patient", message)
    assert "did you mean 'patience'" in message
    assert "eval_every" in message


def test_unknown_model_param(tmp_path):
    path = write(tmp_path, replace_line("      embedding_dim: 32\n", "      embeding_dim: 32\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "embeding_dim" in message
    assert "models[1].params" in message
    assert "did you mean 'embedding_dim'" in message
    assert "reg_weight" in message


def test_unknown_model_train_key(tmp_path):
    path = write(tmp_path, replace_line("      epochs: 5\n", "      epoch: 5\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "models[2].train" in message
    assert "did you mean 'epochs'" in message


def test_wrong_type_names_key(tmp_path):
    path = write(tmp_path, replace_line("  epochs: 20\n", "  epochs: ten\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "train.epochs" in message
    assert "'ten'" in message
    assert "int" in message


def test_bool_rejected_for_int(tmp_path):
    path = write(tmp_path, replace_line("seeds: 2\n", "seeds: true\n"))

    with pytest.raises(ConfigError, match="seeds"):
        load_config(path)


def test_wrong_model_param_type(tmp_path):
    path = write(tmp_path, replace_line("      n_layers: 2\n", "      n_layers: two\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "models[2].params.n_layers" in message
    assert "'two'" in message


def test_wrong_list_item_type(tmp_path):
    path = write(tmp_path, replace_line("  ks: [5, 10]\n", "  ks: [5, ten]\n"))

    with pytest.raises(ConfigError, match=r"protocol\.ks\[1\]"):
        load_config(path)


def test_out_of_range_names_key_and_range(tmp_path):
    path = write(tmp_path, replace_line("  patience: 3\n", "  patience: 0\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "train.patience" in message
    assert "0" in message
    assert "[1, inf]" in message


def test_out_of_range_in_list(tmp_path):
    path = write(tmp_path, replace_line("  ks: [5, 10]\n", "  ks: [0, 10]\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "protocol.ks" in message
    assert "[1, inf]" in message


def test_out_of_range_model_train_override(tmp_path):
    path = write(tmp_path, replace_line("      epochs: 5\n", "      epochs: 0\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "models[2].train.epochs" in message
    assert "[1, inf]" in message


def test_unknown_model_lists_valid_models(tmp_path):
    path = write(tmp_path, replace_line("  - name: pop\n", "  - name: popular\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "'popular'" in message
    for name in ("bpr-mf", "lightgcn", "pop", "scenario-gnn"):
        assert name in message


def test_unknown_scenario_lists_specs(tmp_path):
    path = write(tmp_path, replace_line("scenario: genre-channel\n", "scenario: genre\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "'genre'" in message
    assert "age-group" in message
    assert "genre-channel" in message


def test_valid_metric_not_computed(tmp_path):
    path = write(tmp_path, replace_line("  valid_metric: ndcg@10\n", "  valid_metric: mrr@10\n"))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "'mrr@10'" in message
    assert "ndcg@10" in message
    assert "recall@5" in message


def test_valid_metric_cutoff_not_computed(tmp_path):
    path = write(tmp_path, replace_line("  valid_metric: ndcg@10\n", "  valid_metric: ndcg@20\n"))

    with pytest.raises(ConfigError, match="ndcg@20"):
        load_config(path)


def test_unknown_metric(tmp_path):
    path = write(tmp_path, replace_line("  metrics: [recall, ndcg]\n", "  metrics: [recall, ndgc]\n"))

    with pytest.raises(ConfigError, match="ndgc"):
        load_config(path)


def test_split_must_sum_to_one(tmp_path):
    path = write(tmp_path, replace_line("  split: [0.8, 0.1, 0.1]\n", "  split: [0.8, 0.1, 0.2]\n"))

    with pytest.raises(ConfigError, match="protocol.split"):
        load_config(path)


def test_holdout_share_zero_rejected_with_file(tmp_path):
    text = replace_line("  split: [0.8, 0.1, 0.1]\n", "  split: [0.8, 0.1, 0.1]\n  split_method: scenario-holdout\n  holdout_share: 0\n")
    path = write(tmp_path, text)

    with pytest.raises(ConfigError, match="benchmark.yaml: protocol.holdout_share must be above 0"):
        load_config(path)


def test_holdout_share_ignored_warns(tmp_path, caplog):
    path = write(tmp_path, replace_line("  split: [0.8, 0.1, 0.1]\n", "  split: [0.8, 0.1, 0.1]\n  holdout_share: 0.5\n"))

    with caplog.at_level("WARNING"):
        load_config(path)

    assert "holdout_share 0.5 is ignored" in caplog.text


def test_duplicate_labels_rejected(tmp_path):
    text = VALID_YAML + "  - name: bpr-mf\n    params:\n      embedding_dim: 16\n"
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "bpr-mf" in message
    assert "label" in message


def test_same_model_with_distinct_labels(tmp_path):
    text = VALID_YAML + "  - name: bpr-mf\n    label: bpr-mf-16\n    params:\n      embedding_dim: 16\n"

    config = load_config(write(tmp_path, text))

    assert [m.display_name for m in config.models][-2:] == ["scenario-gnn-pooled", "bpr-mf-16"]


def test_no_models_rejected(tmp_path):
    path = write(tmp_path, "scenario: age-group\n")

    with pytest.raises(ConfigError, match="models"):
        load_config(path)


def test_model_without_name(tmp_path):
    path = write(tmp_path, "models:\n  - label: x\n")

    with pytest.raises(ConfigError, match=r"models\[0\]\.name"):
        load_config(path)


def test_section_must_be_mapping(tmp_path):
    path = write(tmp_path, replace_line("dataset:\n  name: ml-100k\n", "dataset: ml-100k\n"))

    with pytest.raises(ConfigError, match="dataset"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_invalid_yaml(tmp_path):
    path = write(tmp_path, "models: [pop\n")

    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)


def test_misspelled_layer_fails_at_load(tmp_path):
    path = tmp_path / "layer.yaml"
    path.write_text("models: [{name: scenario-gnn, params: {layer: scenario-cnov}}]\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="unknown layer 'scenario-cnov'"):
        load_config(path)


def test_plugin_file_registers_a_layer(tmp_path, monkeypatch):
    from graphrec.cli import load_plugins
    from graphrec.nn.registry import LAYERS

    plugin = tmp_path / "my_plugin_layer.py"
    plugin.write_text(
        "from torch import nn\n"
        "from graphrec.nn.registry import register_layer\n\n\n"
        "@register_layer('plugin-test-layer')\n"
        "class PluginLayer(nn.Module):\n"
        "    def structure_penalty(self):\n"
        "        return 0.0\n",
        encoding="utf-8",
    )
    monkeypatch.delitem(LAYERS, "plugin-test-layer", raising=False)

    assert load_plugins(str(plugin)) == [str(plugin)]
    assert "plugin-test-layer" in LAYERS
    with pytest.raises(ConfigError, match="not a file"):
        load_plugins(str(tmp_path / "missing.py"))
    with pytest.raises(ConfigError, match="failed to import"):
        load_plugins("no_such_graphrec_plugin")
    LAYERS.pop("plugin-test-layer")
