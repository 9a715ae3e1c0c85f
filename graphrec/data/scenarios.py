"""Scenario specs: named rules that give every interaction one scenario id.

A spec has a level. ``user`` specs derive the scenario from the user (every
interaction of a user shares it), ``item`` specs from the item, and
``interaction`` specs from the interaction itself. The level decides how
per-scenario evaluation picks its candidate items: an item-level scenario ranks
only the items of that scenario.

Registered specs are looked up by name. Some specs also take a parameter after
a colon, as in ``column:domain`` or ``learned:6``. resolve_scenario_spec lists
those forms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphrec.data.tables import RawData
from graphrec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

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


# Spec names that carry a parameter after a colon, for error messages and help text.
PARAMETERISED_SCENARIO_FORMS = (
    "column:<column>",
    "daypart:<time zone>",
    "learned:<clusters>",
    "learned:<clusters>:<seed>",
    "weekday-weekend:<time zone>",
)


def resolve_scenario_spec(name: str) -> AssignFn:
    """Return the spec function for ``name`` without applying it.

    ``name`` is a registered name or one of PARAMETERISED_SCENARIO_FORMS:
    ``column:<column>`` (see column_spec), ``daypart:<time zone>`` and
    ``weekday-weekend:<time zone>`` with an IANA zone such as ``Europe/Berlin``,
    and ``learned:<clusters>`` or ``learned:<clusters>:<seed>`` (see
    learned_spec). Raises ConfigError for an unknown name or an invalid
    parameter, so a configuration can be checked before any data is read.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]

    prefix, colon, parameter = name.partition(":")
    if colon and prefix in _PARAMETERISED_FACTORIES:
        if not parameter:
            raise ConfigError(
                f"scenario spec {name!r} has an empty parameter; use the form "
                f"{' or '.join(form for form in PARAMETERISED_SCENARIO_FORMS if form.startswith(prefix + ':'))}"
            )
        return _PARAMETERISED_FACTORIES[prefix](parameter)

    raise ConfigError(
        f"unknown scenario spec {name!r}; valid specs: {', '.join(available_scenarios())}, "
        f"or a parameterised form: {', '.join(PARAMETERISED_SCENARIO_FORMS)}"
    )


def assign_scenarios(name: str, raw: RawData) -> ScenarioAssignment:
    """Apply the spec called ``name`` (registered or parameterised) to ``raw``.

    A scenario that gets no interaction (say, no user under 25 for
    age-group) is kept, so that scenario ids stay the same across datasets,
    and one WARNING names every such scenario. Its per-scenario metrics
    come out as NaN.
    """
    assignment = resolve_scenario_spec(name)(raw)
    counts = np.bincount(np.asarray(assignment.interaction_scenario, dtype=np.int64), minlength=len(assignment.names))
    empty = [scenario for scenario, count in zip(assignment.names, counts) if count == 0]
    if empty:
        logger.warning(
            "scenario spec %r gives no interaction of dataset %r to %d of %d scenarios: %s. "
            "Their per-scenario metrics will be NaN.",
            assignment.spec,
            raw.name,
            len(empty),
            len(assignment.names),
            ", ".join(empty),
        )
    return assignment


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
# channels. A movie with no genre flag goes to "documentary-other". The later
# MovieLens releases spell "Children's" as "Children" and add "IMAX", which
# then loses every tie to the movie's other genres.
GENRE_CHANNELS: dict[str, tuple[str, ...]] = {
    "thriller-crime": ("Crime", "Thriller", "Mystery", "Film-Noir", "Horror"),
    "action-adventure": ("Action", "Adventure", "War", "Western", "Sci-Fi", "Fantasy"),
    "family-comedy": ("Children's", "Children", "Animation", "Musical", "Comedy"),
    "drama-romance": ("Drama", "Romance"),
    "documentary-other": ("Documentary", "unknown", "IMAX"),
}


def genre_channel_of(genres: tuple[str, ...] | list[str]) -> int:
    """Return the channel index for a movie with the given genres."""
    counts = [sum(g in members for g in genres) for members in GENRE_CHANNELS.values()]
    if max(counts) == 0:
        return len(GENRE_CHANNELS) - 1
    return int(np.argmax(counts))


@register_scenario("genre-channel")
def genre_channel(raw: RawData) -> ScenarioAssignment:
    """Item-level scenario: the MovieLens genres grouped into five channels."""
    known = {g for members in GENRE_CHANNELS.values() for g in members}
    unknown = sorted({g for gs in raw.items["genres"] for g in gs} - known)
    if unknown:
        raise DataError(
            f"scenario spec 'genre-channel' has no channel for genres {unknown} of dataset {raw.name!r}"
        )

    channel = raw.items["genres"].map(genre_channel_of).to_numpy(dtype=np.int64)
    mapping = pd.Series(channel, index=raw.items["item_id"].to_numpy())
    return _by_entity(raw, "genre-channel", "item", tuple(GENRE_CHANNELS), mapping)


# Time-based specs. Each interaction's Unix timestamp (seconds) is read as a
# wall-clock time in one time zone, UTC unless a factory is given another zone.

DAYPARTS = ("night", "morning", "afternoon", "evening")
WEEK_PARTS = ("weekday", "weekend")


def _check_time_zone(tz: str) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(
            f"unknown time zone {tz!r} ({err}); use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None


def _local_times(raw: RawData, spec: str, tz: str) -> pd.Series:
    """Return the interaction timestamps as timezone-aware datetimes in ``tz``."""
    if "timestamp" not in raw.interactions.columns:
        raise DataError(f"scenario spec {spec!r} needs a timestamp column, but dataset {raw.name!r} has none")
    utc = pd.to_datetime(raw.interactions["timestamp"].to_numpy(dtype=np.int64), unit="s", utc=True)
    return pd.Series(utc).dt.tz_convert(tz)


def _daypart(raw: RawData, tz: str, spec: str) -> ScenarioAssignment:
    hours = _local_times(raw, spec, tz).dt.hour.to_numpy(dtype=np.int64)
    return ScenarioAssignment(
        spec=spec, level="interaction", names=DAYPARTS, interaction_scenario=hours // 6, entity_scenario=None
    )


def _week_part(raw: RawData, tz: str, spec: str) -> ScenarioAssignment:
    # pandas numbers the days Monday = 0 to Sunday = 6, so 5 and 6 are the weekend.
    weekday = _local_times(raw, spec, tz).dt.dayofweek.to_numpy(dtype=np.int64)
    return ScenarioAssignment(
        spec=spec,
        level="interaction",
        names=WEEK_PARTS,
        interaction_scenario=(weekday >= 5).astype(np.int64),
        entity_scenario=None,
    )


def make_daypart_spec(tz: str = "UTC") -> AssignFn:
    """Build a daypart spec that reads the hour of each timestamp in time zone ``tz``.

    ``tz`` is an IANA name such as ``Europe/Berlin``, and daylight saving time
    follows that zone's rules. The spec is reported as ``daypart`` for UTC and
    as ``daypart:<tz>`` otherwise. Raises ConfigError for an unknown zone.
    """
    _check_time_zone(tz)
    spec = "daypart" if tz == "UTC" else f"daypart:{tz}"
    return lambda raw: _daypart(raw, tz, spec)


def make_weekday_weekend_spec(tz: str = "UTC") -> AssignFn:
    """Build a weekday-weekend spec that reads the day of each timestamp in time zone ``tz``.

    The spec is reported as ``weekday-weekend`` for UTC and as
    ``weekday-weekend:<tz>`` otherwise. Raises ConfigError for an unknown zone.
    """
    _check_time_zone(tz)
    spec = "weekday-weekend" if tz == "UTC" else f"weekday-weekend:{tz}"
    return lambda raw: _week_part(raw, tz, spec)


@register_scenario("daypart")
def daypart(raw: RawData) -> ScenarioAssignment:
    """Interaction-level scenario from the hour of the timestamp in UTC.

    Night is hours 0 to 5, morning 6 to 11, afternoon 12 to 17 and evening 18
    to 23. make_daypart_spec builds the same spec for another time zone.
    """
    return _daypart(raw, "UTC", "daypart")


@register_scenario("weekday-weekend")
def weekday_weekend(raw: RawData) -> ScenarioAssignment:
    """Interaction-level scenario from the day of the timestamp in UTC.

    Weekday is Monday to Friday and weekend is Saturday and Sunday.
    make_weekday_weekend_spec builds the same spec for another time zone.
    """
    return _week_part(raw, "UTC", "weekday-weekend")


def column_spec(column: str) -> AssignFn:
    """Build a spec that gives each distinct value of the interaction column ``column`` a scenario.

    The values are sorted as ``pandas.factorize(sort=True)`` sorts them, value
    ``i`` in that order gets scenario id ``i``, and ``str(value)`` is its name. The level is detected from the data. It is
    ``item`` when every item has a single value, else ``user`` when every user
    has a single value, else ``interaction``. When both hold, item level wins:
    each user then interacts with one scenario's items only, so ranking only
    those items drops none of the user's own items. The spec is reported as
    ``column:<column>``.

    The returned spec raises DataError when the column is missing or has a
    missing value, and when pandas cannot sort its values.
    """
    spec = f"column:{column}"

    def assign(raw: RawData) -> ScenarioAssignment:
        frame = raw.interactions
        if column not in frame.columns:
            raise DataError(
                f"scenario spec {spec!r}: dataset {raw.name!r} has no interaction column {column!r}; "
                f"columns: {', '.join(map(str, frame.columns))}"
            )
        values = frame[column]
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataError(
                f"scenario spec {spec!r}: column {column!r} of dataset {raw.name!r} has a missing value "
                f"in interaction row {row}; fill or drop missing values first"
            )
        try:
            codes, uniques = pd.factorize(values, sort=True)
        except TypeError as err:
            raise DataError(
                f"scenario spec {spec!r}: the values of column {column!r} cannot be sorted ({err}); "
                "convert the column to one type first"
            ) from None
        names = tuple(str(value) for value in uniques)
        codes = pd.Series(codes.astype(np.int64), index=frame.index)

        for level, id_column in (("item", "item_id"), ("user", "user_id")):
            per_entity = codes.groupby(frame[id_column].to_numpy())
            if (per_entity.nunique() == 1).all():
                return _by_entity(raw, spec, level, names, per_entity.first())
        return ScenarioAssignment(
            spec=spec, level="interaction", names=names, interaction_scenario=codes.to_numpy(), entity_scenario=None
        )

    return assign


def interaction_context_features(raw: RawData) -> pd.DataFrame:
    """Build the context features that the learned spec clusters, one row per interaction.

    The columns are:

    - ``hour_sin`` and ``hour_cos``: the UTC hour on a 24-hour circle.
    - ``weekday_sin`` and ``weekday_cos``: the UTC weekday on a 7-day circle.
    - ``genre:<name>``: 1.0 when the item has that genre, else 0.0. The genres
      follow ``raw.genres``, then any other genre found in ``raw.items``.
    - ``log_gap``: ``log(1 + seconds since the user's previous interaction)``,
      which is 0 for the user's first. Equal timestamps are ordered by row.

    There are no genre columns when the item table has no ``genres`` column.
    An item missing from the item table gets no genre flag, and a warning
    gives the count of such interactions.
    """
    frame = raw.interactions
    times = _local_times(raw, "learned", "UTC")
    hour_angle = 2 * np.pi * times.dt.hour.to_numpy(dtype=np.float64) / 24
    weekday_angle = 2 * np.pi * times.dt.dayofweek.to_numpy(dtype=np.float64) / 7
    features = {
        "hour_sin": np.sin(hour_angle),
        "hour_cos": np.cos(hour_angle),
        "weekday_sin": np.sin(weekday_angle),
        "weekday_cos": np.cos(weekday_angle),
    }
    features.update(_genre_flags(raw))
    features["log_gap"] = np.log1p(_seconds_since_previous(frame))
    return pd.DataFrame(features, index=frame.index)


def _genre_flags(raw: RawData) -> dict[str, np.ndarray]:
    """Return one 0/1 array per genre, aligned with the interactions."""
    if "genres" not in raw.items.columns:
        return {}
    found = {genre for genres in raw.items["genres"] for genre in genres}
    names = list(raw.genres) + sorted(found - set(raw.genres))
    column_of = {name: index for index, name in enumerate(names)}

    table = np.zeros((len(raw.items), len(names)), dtype=np.float64)
    for row, genres in enumerate(raw.items["genres"]):
        for genre in genres:
            table[row, column_of[genre]] = 1.0

    row_of_item = pd.Series(np.arange(len(raw.items)), index=raw.items["item_id"].to_numpy())
    rows = raw.interactions["item_id"].map(row_of_item)
    missing = rows.isna().to_numpy()
    if missing.any():
        logger.warning(
            "learned scenarios: %d interactions of dataset %r are on items missing from the item table, "
            "so they get no genre flags",
            int(missing.sum()),
            raw.name,
        )
    flags = np.zeros((len(rows), len(names)), dtype=np.float64)
    flags[~missing] = table[rows[~missing].to_numpy(dtype=np.int64)]
    return {f"genre:{name}": flags[:, index] for index, name in enumerate(names)}


def _seconds_since_previous(frame: pd.DataFrame) -> np.ndarray:
    """Return the seconds since the same user's previous interaction, 0 for a user's first."""
    order = np.lexsort((frame["timestamp"].to_numpy(), frame["user_id"].to_numpy()))
    users = frame["user_id"].to_numpy()[order]
    stamps = frame["timestamp"].to_numpy(dtype=np.int64)[order]

    sorted_gaps = np.zeros(len(order), dtype=np.float64)
    if len(order) > 1:
        same_user = users[1:] == users[:-1]
        sorted_gaps[1:] = np.where(same_user, stamps[1:] - stamps[:-1], 0)

    gaps = np.empty_like(sorted_gaps)
    gaps[order] = sorted_gaps
    return gaps


def learned_spec(n_clusters: int = 4, seed: int = 0) -> AssignFn:
    """Build a spec whose scenarios are k-means clusters of interaction context.

    The features of interaction_context_features are standardised to zero mean
    and unit variance (a constant feature stays 0), then scikit-learn's KMeans
    (k-means++ start, 10 restarts, ``random_state=seed``) groups them into
    ``n_clusters`` interaction-level scenarios. Clusters are renumbered by size,
    so ``cluster-0`` is the largest, and ties keep KMeans's order. The same
    data and seed give the same clusters within one scikit-learn version, but
    results across versions or machines were not compared.

    The spec is reported as ``learned`` for the defaults, ``learned:<clusters>``
    for seed 0 and ``learned:<clusters>:<seed>`` otherwise. Raises ConfigError
    for fewer than 1 cluster or a seed outside 0..2**32 - 1, the range that
    scikit-learn accepts. The returned spec raises
    DataError when the dataset has fewer interactions than clusters.
    """
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise ConfigError(f"learned scenarios need a whole number of clusters of at least 1, got {n_clusters!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ConfigError(f"learned scenarios need a whole-number seed in 0..2**32 - 1, got {seed!r}")
    n_clusters, seed = int(n_clusters), int(seed)

    if (n_clusters, seed) == (4, 0):
        spec = "learned"
    elif seed == 0:
        spec = f"learned:{n_clusters}"
    else:
        spec = f"learned:{n_clusters}:{seed}"
    names = tuple(f"cluster-{index}" for index in range(n_clusters))

    def assign(raw: RawData) -> ScenarioAssignment:
        n_rows = len(raw.interactions)
        if n_rows < n_clusters:
            raise DataError(
                f"scenario spec {spec!r} needs at least {n_clusters} interactions, "
                f"but dataset {raw.name!r} has {n_rows}; use fewer clusters"
            )
        # Imported here so that importing this module does not load scikit-learn, which is slow to import.
        from sklearn.cluster import KMeans
        from sklearn.preprocessing import StandardScaler

        features = StandardScaler().fit_transform(interaction_context_features(raw).to_numpy())
        labels = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(features)

        sizes = np.bincount(labels, minlength=n_clusters)
        rank_of_label = np.empty(n_clusters, dtype=np.int64)
        rank_of_label[np.argsort(-sizes, kind="stable")] = np.arange(n_clusters)
        if (sizes == 0).any():
            logger.warning(
                "scenario spec %r: %d of %d clusters are empty for dataset %r, most likely because "
                "it has fewer distinct context vectors than clusters",
                spec, int((sizes == 0).sum()), n_clusters, raw.name,
            )
        return ScenarioAssignment(
            spec=spec,
            level="interaction",
            names=names,
            interaction_scenario=rank_of_label[labels],
            entity_scenario=None,
        )

    return assign


register_scenario("learned")(learned_spec())


def _parse_learned(parameter: str) -> AssignFn:
    """Build the learned spec for ``<clusters>`` or ``<clusters>:<seed>``."""
    parts = parameter.split(":")
    if len(parts) > 2 or not all(part.isascii() and part.isdigit() for part in parts):
        raise ConfigError(
            f"invalid scenario spec 'learned:{parameter}'; expected learned:<clusters> or "
            "learned:<clusters>:<seed> with whole numbers, as in learned:6"
        )
    return learned_spec(*(int(part) for part in parts))


_PARAMETERISED_FACTORIES: dict[str, Callable[[str], AssignFn]] = {
    "column": column_spec,
    "daypart": make_daypart_spec,
    "learned": _parse_learned,
    "weekday-weekend": make_weekday_weekend_spec,
}


def describe_scenarios(assignment: ScenarioAssignment, raw: RawData) -> dict:
    """Count the interactions, users and items of each scenario and their overlap.

    Returns a dict with ``spec``, ``level``, ``names``, ``scenarios`` (one dict
    per scenario with ``name``, ``interactions``, ``users`` and ``items``) and
    ``user_overlap`` and ``item_overlap``. An overlap is an S-by-S nested list
    whose entry ``[a][b]`` counts the users (items) with interactions in both
    scenario ``a`` and scenario ``b``, so the diagonal repeats the per-scenario
    counts. Raises DataError when the assignment does not match ``raw``.
    """
    scenario = np.asarray(assignment.interaction_scenario)
    n_scenarios = len(assignment.names)
    if len(scenario) != len(raw.interactions):
        raise DataError(
            f"scenario assignment {assignment.spec!r} has {len(scenario)} entries but dataset "
            f"{raw.name!r} has {len(raw.interactions)} interactions; assign scenarios to this dataset again"
        )
    if len(scenario) and (scenario.min() < 0 or scenario.max() >= n_scenarios):
        raise DataError(
            f"scenario assignment {assignment.spec!r} has ids outside 0..{n_scenarios - 1}"
        )

    interactions = np.bincount(scenario, minlength=n_scenarios)
    user_membership = _membership(raw.interactions["user_id"], scenario, n_scenarios)
    item_membership = _membership(raw.interactions["item_id"], scenario, n_scenarios)
    user_overlap = (user_membership.T @ user_membership).toarray()
    item_overlap = (item_membership.T @ item_membership).toarray()

    scenarios = [
        {
            "name": name,
            "interactions": int(interactions[index]),
            "users": int(user_overlap[index, index]),
            "items": int(item_overlap[index, index]),
        }
        for index, name in enumerate(assignment.names)
    ]
    return {
        "spec": assignment.spec,
        "level": assignment.level,
        "names": list(assignment.names),
        "scenarios": scenarios,
        "user_overlap": user_overlap.astype(int).tolist(),
        "item_overlap": item_overlap.astype(int).tolist(),
    }


def _membership(ids: pd.Series, scenario: np.ndarray, n_scenarios: int) -> sp.csr_matrix:
    """Return a 0/1 entities-by-scenarios matrix: 1 where the entity has an interaction in the scenario."""
    codes, uniques = pd.factorize(ids)
    matrix = sp.csr_matrix(
        (np.ones(len(codes), dtype=np.int64), (codes, scenario)), shape=(len(uniques), n_scenarios)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix
