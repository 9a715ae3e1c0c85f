"""Typed, validated benchmark configuration.

A config is YAML with the top-level keys of :class:`BenchmarkConfig`. Every
section is a dataclass. Loading rejects unknown keys, wrong types and values
out of range with a :class:`graphrec.errors.ConfigError` that names the key
and lists what is valid.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from graphrec.data.preprocess import PreprocessConfig
from graphrec.errors import ConfigError

logger = logging.getLogger(__name__)


PROTOCOL_KINDS = ("topk", "sampled", "ctr", "rating")


def _range(low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"low": low, "high": high}


@dataclass
class DatasetConfig:
    """Dataset selection by registry name.

    ``on_bad_rows`` is ``error`` (a malformed row stops loading with its file
    and line) or ``skip`` (row-level problems drop the row, counted and logged).
    """

    name: str = "ml-100k"
    on_bad_rows: str = "error"


@dataclass
class ProtocolConfig:
    """Split and scoring protocol (defaults: the RecBole-compatible preset).

    ``kind`` is ``topk`` (full ranking), ``sampled`` (each held-out item
    ranked against ``n_negatives`` sampled negatives), ``ctr`` (AUC and log
    loss of rating > ``ctr_threshold``) or ``rating`` (RMSE and MAE of
    predicted ratings). ``split_method`` is one of:

    - ``random``: per user, with ratios ``split``;
    - ``temporal``: per user, by time; ``global-temporal``: one cut by time;
    - ``leave-last-out``; ``kfold`` (``folds``, ``fold``);
    - ``interactions``: random over all interactions;
    - ``canonical``: ml-100k's ``u1``..``u5``, ``ua`` or ``ub`` files;
    - ``files``: ``split_files`` with ``train``, ``valid`` and ``test`` CSV
      paths. ``unseen_policy`` (drop, keep or error) handles held-out rows
      whose user or item is absent from train;
    - ``scenario-holdout``: ``random``, then a share ``holdout_share``
      (default 0.2, above 0 and at most 1) of the users active in two or more
      scenarios lose all their interactions in one of them to test. The
      scenario is drawn uniformly from the user's scenarios (cross-scenario
      cold start, see :mod:`graphrec.data.scenario_holdout`).
    """

    kind: str = "topk"
    split_method: str = "random"
    split: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    split_files: dict[str, str] = field(default_factory=dict)
    unseen_policy: str = "drop"
    canonical_split: str = "u1"
    folds: int = field(default=5, metadata=_range(2))
    fold: int = field(default=0, metadata=_range(0))
    valid_ratio: float = field(default=0.1, metadata=_range(0.0, 0.9))
    holdout_share: float = field(default=0.2, metadata=_range(0.0, 1.0))
    ctr_threshold: float = 3.0
    n_negatives: int = field(default=100, metadata=_range(1))
    seed: int = 2020
    ks: list[int] = field(default_factory=lambda: [10, 20], metadata=_range(1))
    metrics: list[str] = field(default_factory=lambda: ["recall", "ndcg", "precision", "hit", "mrr"])
    valid_metric: str = "mrr@10"
    eval_batch_size: int = field(default=1024, metadata=_range(1))
    memory_budget_mb: float = field(default=2048.0, metadata=_range(1.0))


@dataclass
class TrainConfig:
    """Optimisation settings shared by the trainable models (Adam, BPR loss)."""

    epochs: int = field(default=300, metadata=_range(1))
    batch_size: int = field(default=2048, metadata=_range(1))
    learning_rate: float = field(default=1e-3, metadata=_range(0.0))
    weight_decay: float = field(default=0.0, metadata=_range(0.0))
    patience: int = field(default=10, metadata=_range(1))
    eval_every: int = field(default=1, metadata=_range(1))


@dataclass
class ModelConfig:
    """One model of a benchmark: registry name, hyper-parameters, training overrides.

    ``search`` declares the model's search space for ``graphrec tune``: a
    hyper-parameter (or ``train.<setting>``) maps to a list of values, or to a
    range ``{low, high, log, type}`` that only Bayesian search can sample.
    """

    name: str
    label: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.label or self.name


@dataclass
class SignificanceConfig:
    """Paired test over test users between the best model and the best baseline.

    ``ours`` lists the labels of the proposed models; every other model is a
    baseline. With ``ours`` empty, the best model is compared with the
    runner-up. ``test`` is ``wilcoxon`` (signed-rank) or ``ttest`` (paired t).
    ``metric`` defaults to ``ndcg@10`` when the protocol computes it, else to
    ``protocol.valid_metric``.
    """

    metric: str | None = None
    test: str = "wilcoxon"
    ours: list[str] = field(default_factory=list)
    alpha: float = field(default=0.05, metadata=_range(0.0, 1.0))


@dataclass
class BenchmarkConfig:
    """A whole benchmark: dataset, scenario spec, protocol, training and models."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    scenario: str = "age-group"
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    models: list[ModelConfig] = field(default_factory=list)
    seeds: int = field(default=1, metadata=_range(1))
    significance: SignificanceConfig = field(default_factory=SignificanceConfig)


def _check_type(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a type annotation; ints are accepted for floats."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"invalid value {value!r} for {key}: expected {annotation}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"invalid value {value!r} for {key}: expected a list")
        (item_type, *_) = typing.get_args(annotation) or (Any,)
        return [_check_type(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"invalid value {value!r} for {key}: expected a mapping")
        return dict(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, bool):
        raise ConfigError(f"invalid value {value!r} for {key}: expected int")
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, key)
    if isinstance(annotation, type) and not isinstance(value, annotation):
        raise ConfigError(f"invalid value {value!r} for {key}: expected {annotation.__name__}")
    return value


def _check_range(value: Any, meta: dict[str, Any], key: str) -> None:
    low, high = meta.get("low"), meta.get("high")
    values = value if isinstance(value, list) else [value]
    for v in values:
        if (low is not None and v < low) or (high is not None and v > high):
            bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
            raise ConfigError(f"value {v!r} for {key} is out of range {bounds}")


def unknown_key_error(key: str, valid: list[str], where: str) -> ConfigError:
    hint = difflib.get_close_matches(key, valid, n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    return ConfigError(f"unknown key '{where}{key}'{suggestion}; valid keys: {', '.join(valid)}")


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, validating keys, types and ranges."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{where}." if where else ""

    for key in data:
        if key not in fields:
            raise unknown_key_error(key, list(fields), prefix)

    values = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing required key {key!r}")
            continue
        annotation = hints[name]
        if typing.get_origin(annotation) is list and dataclasses.is_dataclass(typing.get_args(annotation)[0]):
            item_cls = typing.get_args(annotation)[0]
            if not isinstance(data[name], list):
                raise ConfigError(f"invalid value for {key}: expected a list of mappings")
            values[name] = [from_dict(item_cls, item, f"{key}[{i}]") for i, item in enumerate(data[name])]
            continue
        value = _check_type(data[name], annotation, key)
        if f.metadata:
            _check_range(value, f.metadata, key)
        values[name] = value
    return cls(**values)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, raising ConfigError that names the file when it is missing or invalid."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from None


def load_config(path: str | Path) -> BenchmarkConfig:
    """Read and validate a benchmark YAML file."""
    path = Path(path)
    data = read_yaml(path)
    try:
        config = from_dict(BenchmarkConfig, data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    try:
        validate_semantics(config)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return config


def to_dict(config: BenchmarkConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def validate_semantics(config: BenchmarkConfig) -> None:
    """Check what the types cannot: registry names, split ratios, model parameters."""
    from graphrec.data.scenarios import resolve_scenario_spec
    from graphrec.eval.metrics import METRICS
    from graphrec.models.registry import get_model_class, hyperparameters

    resolve_scenario_spec(config.scenario)

    from graphrec.data.splitting import SPLIT_METHODS

    if config.dataset.on_bad_rows not in ("error", "skip"):
        raise ConfigError(f"invalid dataset.on_bad_rows {config.dataset.on_bad_rows!r}; valid values: error, skip")
    protocol = config.protocol
    if protocol.kind not in PROTOCOL_KINDS:
        raise ConfigError(f"invalid protocol.kind {protocol.kind!r}; valid kinds: {', '.join(PROTOCOL_KINDS)}")
    if protocol.split_method not in SPLIT_METHODS:
        raise ConfigError(
            f"unknown protocol.split_method {protocol.split_method!r}; valid methods: {', '.join(SPLIT_METHODS)}"
        )
    if protocol.unseen_policy not in ("drop", "keep", "error"):
        raise ConfigError(f"invalid protocol.unseen_policy {protocol.unseen_policy!r}; valid policies: drop, keep, error")
    if protocol.split_method == "scenario-holdout" and not 0.0 < protocol.holdout_share <= 1.0:
        raise ConfigError(
            f"protocol.holdout_share must be above 0 and at most 1, got {protocol.holdout_share}. "
            "It is the share of eligible users who lose one scenario to the test set."
        )
    if protocol.split_method != "scenario-holdout" and protocol.holdout_share != ProtocolConfig.holdout_share:
        logger.warning(
            "protocol.holdout_share %s is ignored: only split_method scenario-holdout reads it, and this config uses %s",
            protocol.holdout_share, protocol.split_method,
        )
    if protocol.fold >= protocol.folds:
        raise ConfigError(f"protocol.fold must be below protocol.folds ({protocol.folds}), got {protocol.fold}")

    split = config.protocol.split
    if len(split) != 3 or any(r < 0 for r in split) or abs(sum(split) - 1.0) > 1e-6:
        raise ConfigError(f"protocol.split must be three non-negative ratios that sum to 1, got {split}")

    for name in config.protocol.metrics:
        if name not in METRICS and name != "coverage":
            raise ConfigError(
                f"unknown metric {name!r} in protocol.metrics; valid metrics: {', '.join([*METRICS, 'coverage'])}"
            )
    if protocol.kind == "ctr" and protocol.split_method == "random":
        raise ConfigError(
            "protocol.kind ctr splits all interactions at random, not each user's; "
            "set protocol.split_method to interactions (or another explicit method)"
        )
    valid_names = [f"{m}@{k}" for m in config.protocol.metrics for k in config.protocol.ks]
    if protocol.kind in ("topk", "sampled") and config.protocol.valid_metric not in valid_names:
        raise ConfigError(
            f"protocol.valid_metric {config.protocol.valid_metric!r} is not computed; "
            f"choose one of {', '.join(valid_names)}"
        )

    if not config.models:
        raise ConfigError("the config lists no models; add at least one entry under 'models'")
    for i, model in enumerate(config.models):
        where = f"models[{i}]"
        cls = get_model_class(model.name)
        allowed = hyperparameters(cls)
        for key, value in model.params.items():
            if key not in allowed:
                raise unknown_key_error(key, list(allowed), f"{where}.params.")
            model.params[key] = _check_type(value, typing.get_type_hints(cls.__init__)[key], f"{where}.params.{key}")
        if isinstance(model.params.get("layer"), str):
            # Fail before any training when a layer name is misspelled.
            from graphrec.nn.registry import get_layer

            get_layer(model.params["layer"])
        # Fill in the defaults so that the resolved config lists every hyper-parameter.
        model.params = {name: model.params.get(name, p.default) for name, p in allowed.items()}
        model.train = dataclasses.asdict(from_dict(TrainConfig, {**dataclasses.asdict(config.train), **model.train}, f"{where}.train"))
    _validate_significance(config)
    labels = [m.display_name for m in config.models]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ConfigError(f"model labels must be unique, but {duplicates} repeat; set 'label' on each copy")


def _validate_significance(config: BenchmarkConfig) -> None:
    from graphrec.eval.significance import TESTS

    significance = config.significance
    if significance.test not in TESTS:
        raise ConfigError(f"invalid significance.test {significance.test!r}; valid tests: {', '.join(TESTS)}")
    labels = [m.display_name for m in config.models]
    unknown = [label for label in significance.ours if label not in labels]
    if unknown:
        raise ConfigError(f"significance.ours names {unknown}, which are not model labels; labels: {', '.join(labels)}")
    computed = [f"{m}@{k}" for m in config.protocol.metrics for k in config.protocol.ks]
    if significance.metric is None:
        significance.metric = "ndcg@10" if "ndcg@10" in computed else config.protocol.valid_metric
    if config.protocol.kind == "topk" and significance.metric not in computed:
        raise ConfigError(
            f"significance.metric {significance.metric!r} is not computed; choose one of {', '.join(computed)}"
        )
