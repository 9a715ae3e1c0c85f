"""Scenario specs: named rules that give every interaction one scenario id.

A spec has a level. ``user`` specs derive the scenario from the user (every
interaction of a user shares it), ``item`` specs from the item, and
``interaction`` specs from the interaction itself. The level decides how
per-scenario evaluation picks its candidate items: an item-level scenario ranks
only the items of that scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from graphrec.data.tables import RawData
from graphrec.errors import ConfigError, DataError

LEVELS = ("user", "item", "interaction")


@dataclass(frozen=True)
class ScenarioAssignment:
    """Scenario ids for one dataset under one spec.

    ``interaction_scenario`` is aligned with ``RawData.interactions`` rows.
    ``entity_scenario`` maps raw user ids (user level) or raw item ids (item
    level) to scenario ids, and is ``None`` for interaction-level specs.
    """

    spec: str
    level: str
    names: tuple[str, ...]
    interaction_scenario: np.ndarray
    entity_scenario: pd.Series | None


AssignFn = Callable[[RawData], ScenarioAssignment]
_REGISTRY: dict[str, AssignFn] = {}


def register_scenario(name: str) -> Callable[[AssignFn], AssignFn]:
    """Register a scenario spec under ``name`` (a decorator)."""

    def wrap(fn: AssignFn) -> AssignFn:
        if name in _REGISTRY:
            raise ValueError(f"scenario spec {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return wrap


def available_scenarios() -> list[str]:
    return sorted(_REGISTRY)


def assign_scenarios(name: str, raw: RawData) -> ScenarioAssignment:
    """Apply the spec called ``name`` to ``raw``."""
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown scenario spec {name!r}; valid specs: {', '.join(available_scenarios())}"
        )
    return _REGISTRY[name](raw)


def _by_entity(raw: RawData, spec: str, level: str, names, entity_scenario: pd.Series) -> ScenarioAssignment:
    column = "user_id" if level == "user" else "item_id"
    ids = raw.interactions[column]
    mapped = ids.map(entity_scenario)
    if mapped.isna().any():
        missing = ids[mapped.isna()].iloc[0]
        raise DataError(
            f"scenario spec {spec!r} has no scenario for {column} {missing!r}; "
            f"the {level} table must describe every {level} that has interactions"
        )
    return ScenarioAssignment(
        spec=spec,
        level=level,
        names=tuple(names),
        interaction_scenario=mapped.to_numpy(dtype=np.int64),
        entity_scenario=entity_scenario,
    )


AGE_GROUPS = ("under-25", "25-34", "35-plus")


@register_scenario("age-group")
def age_group(raw: RawData) -> ScenarioAssignment:
    """User-level scenario from age: under 25, 25 to 34, 35 and over."""
    if raw.users is None or "age" not in raw.users.columns:
        raise DataError(f"scenario spec 'age-group' needs user ages, but dataset {raw.name!r} has none")

    ages = raw.users["age"].to_numpy()
    group = np.where(ages < 25, 0, np.where(ages < 35, 1, 2))
    mapping = pd.Series(group, index=raw.users["user_id"].to_numpy())
    return _by_entity(raw, "age-group", "user", AGE_GROUPS, mapping)


# Channels of the genre-channel spec, in tie-break order. A movie goes to the
# channel that contains most of its genres. On a tie the channel listed first
# wins, so the broad Drama and Comedy genres lose ties to the more specific
# channels. A movie with no genre flag goes to "documentary-other".
GENRE_CHANNELS: dict[str, tuple[str, ...]] = {
    "thriller-crime": ("Crime", "Thriller", "Mystery", "Film-Noir", "Horror"),
    "action-adventure": ("Action", "Adventure", "War", "Western", "Sci-Fi", "Fantasy"),
    "family-comedy": ("Children's", "Animation", "Musical", "Comedy"),
    "drama-romance": ("Drama", "Romance"),
    "documentary-other": ("Documentary", "unknown"),
}


def genre_channel_of(genres: tuple[str, ...] | list[str]) -> int:
    """Return the channel index for a movie with the given genres."""
    counts = [sum(g in members for g in genres) for members in GENRE_CHANNELS.values()]
    if max(counts) == 0:
        return len(GENRE_CHANNELS) - 1
    return int(np.argmax(counts))


@register_scenario("genre-channel")
def genre_channel(raw: RawData) -> ScenarioAssignment:
    """Item-level scenario: the 19 MovieLens genres grouped into five channels."""
    known = {g for members in GENRE_CHANNELS.values() for g in members}
    unknown = sorted({g for gs in raw.items["genres"] for g in gs} - known)
    if unknown:
        raise DataError(
            f"scenario spec 'genre-channel' has no channel for genres {unknown} of dataset {raw.name!r}"
        )

    channel = raw.items["genres"].map(genre_channel_of).to_numpy(dtype=np.int64)
    mapping = pd.Series(channel, index=raw.items["item_id"].to_numpy())
    return _by_entity(raw, "genre-channel", "item", tuple(GENRE_CHANNELS), mapping)
