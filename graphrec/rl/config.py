"""Typed config of ``graphrec rl evaluate``: a benchmark config plus an ``rl`` section.

The benchmark keys (``dataset``, ``scenario``, ``protocol``, ``train``,
``models``, ``seeds``) mean what they mean for ``graphrec benchmark``.
``models`` must list exactly one model, the base recommender whose top
candidates the policies re-rank, and the split must be temporal so that the
test events come after the training interactions in time. Loading uses the
same validator as benchmark configs: an unknown key, a wrong type or a value
out of range raises :class:`graphrec.errors.ConfigError`.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graphrec.errors import ConfigError
from graphrec.experiments.config import (
    BenchmarkConfig, _check_type, _range, from_dict, read_yaml, unknown_key_error, validate_semantics,
)
from graphrec.rl.policies import get_policy_class, policy_hyperparameters

MODES = ("replay", "simulator")
REFERENCE_POLICY = "greedy"
#: Splits that put each user's test interactions after their training ones.
TEMPORAL_SPLITS = ("temporal", "global-temporal", "leave-last-out")


@dataclass
class PolicyConfig:
    """One policy: registry name, optional label and hyper-parameters (``alpha``, ``v``, ``epsilon``, ...)."""

    name: str
    label: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.label or self.name


def _default_policies() -> list[PolicyConfig]:
    return [PolicyConfig(name) for name in ("greedy", "linucb", "thompson", "epsilon-greedy")]


@dataclass
class SimulatorConfig:
    """The simulator's recommender: training epochs on all data and calibration negatives per interaction."""

    epochs: int = field(default=50, metadata=_range(1))
    calibration_negatives: int = field(default=1, metadata=_range(0))


@dataclass
class RLSection:
    """Re-ranking and evaluation settings.

    ``candidates`` is N, the number of the base model's top items a policy
    chooses from. ``reward_threshold`` turns a rating into a reward
    (``rating >= threshold``). ``modes`` lists ``replay``, ``simulator`` or
    both. With ``retrain_base`` the base model is trained again for every
    seed, otherwise once with ``protocol.seed``.
    """

    candidates: int = field(default=50, metadata=_range(1))
    reward_threshold: float = 4.0
    modes: list[str] = field(default_factory=lambda: list(MODES))
    retrain_base: bool = True
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    policies: list[PolicyConfig] = field(default_factory=_default_policies)


@dataclass
class RLConfig(BenchmarkConfig):
    """A benchmark config with one base model and the ``rl`` section."""

    rl: RLSection = field(default_factory=RLSection)

    @property
    def base_model(self):
        return self.models[0]


def load_rl_config(path: str | Path) -> RLConfig:
    """Read and validate an RL YAML file."""
    path = Path(path)
    data = read_yaml(path)
    try:
        config = from_dict(RLConfig, data)
        validate_rl_config(config)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return config


def validate_rl_config(config: RLConfig) -> None:
    """Check the benchmark part as ``graphrec benchmark`` does, then the RL rules; fill policy defaults."""
    validate_semantics(config)
    if len(config.models) != 1:
        raise ConfigError(
            f"models must list exactly one base model for rl evaluate, got {len(config.models)}: "
            f"{[m.display_name for m in config.models]}"
        )
    if config.protocol.kind != "topk":
        raise ConfigError(f"rl evaluate trains the base model under protocol.kind topk, got {config.protocol.kind!r}")
    if config.protocol.split_method not in TEMPORAL_SPLITS:
        raise ConfigError(
            f"protocol.split_method {config.protocol.split_method!r} does not order test events after training; "
            f"use one of {', '.join(TEMPORAL_SPLITS)}"
        )

    rl = config.rl
    if not rl.modes or len(set(rl.modes)) != len(rl.modes) or any(m not in MODES for m in rl.modes):
        raise ConfigError(f"invalid rl.modes {rl.modes}; list each of {', '.join(MODES)} at most once, at least one")
    for i, policy in enumerate(rl.policies):
        _validate_policy(policy, f"rl.policies[{i}]")

    labels = [p.display_name for p in rl.policies]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ConfigError(f"policy labels must be unique, but {duplicates} repeat; set 'label' on each copy")
    if REFERENCE_POLICY not in labels:
        raise ConfigError(
            f"rl.policies needs a policy labelled {REFERENCE_POLICY!r} (name: greedy, no label), "
            "the reference the other policies are tested against"
        )
    reference = rl.policies[labels.index(REFERENCE_POLICY)]
    if reference.name != "greedy":
        raise ConfigError(f"the policy labelled {REFERENCE_POLICY!r} must have name greedy, got {reference.name!r}")


def _validate_policy(policy: PolicyConfig, where: str) -> None:
    cls = get_policy_class(policy.name)
    allowed = policy_hyperparameters(cls)
    hints = typing.get_type_hints(cls.__init__)
    for key, value in policy.params.items():
        if key not in allowed:
            raise unknown_key_error(key, list(allowed), f"{where}.params.")
        policy.params[key] = _check_type(value, hints[key], f"{where}.params.{key}")
    # Fill in the defaults so that the resolved config lists every hyper-parameter.
    policy.params = {name: policy.params.get(name, p.default) for name, p in allowed.items()}

    # Building a one-dimensional copy checks the values (alpha >= 0, 0 <= epsilon <= 1, ...) now, not after training.
    try:
        cls(1, np.ones(1), 0, **policy.params)
    except ConfigError as err:
        raise ConfigError(f"{where} ({policy.display_name}): {err}") from None

