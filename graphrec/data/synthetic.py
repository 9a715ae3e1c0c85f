"""Seeded synthetic interactions with power-law degrees and planted scenario structure.

The generator makes graphs of any size for scaling benchmarks and tests, in
memory and without files. Its model of a user's interactions:

1. Activity. User ``u`` gets a fixed degree ``d_u``. The users are ranked by a
   random permutation, and the user of rank ``r`` (1-based) gets a share of
   the interactions proportional to ``r ** -user_exponent`` (a Zipf law), on
   top of ``min_user_degree`` and capped at ``max_user_degree``. The degrees
   sum to ``n_interactions`` exactly. A Zipf rank law with exponent ``a``
   gives a degree distribution whose tail falls as ``d ** -(1 + 1 / a)``.
2. Scenarios. Every item belongs to one of ``n_scenarios`` scenarios (sizes
   differ by at most one item), and every user has a home scenario. Each
   interaction falls in the user's home scenario with probability
   ``p_home`` and otherwise in one of the other scenarios, chosen uniformly.
   The scenario of an interaction is the scenario of its item.
3. Preference. A latent-factor model with one-hot item factors: every item
   has one of ``n_topics`` topics, and every user has a topic mixture drawn
   from a symmetric Dirichlet with concentration ``topic_concentration``
   (small values give users few topics). An interaction draws a topic from
   the user's mixture, so ``P(item | user, scenario)`` is proportional to
   ``theta_u[topic(item)] * q_item`` within the scenario, a rank-``n_topics``
   preference that a model can learn.
4. Popularity. Within its scenario and topic, an item is drawn with weight
   ``q_item = r ** -item_exponent`` for its popularity rank ``r`` (a second
   random permutation), so item degrees follow a Zipf law too.

Each (user, item) pair occurs at most once. A draw that repeats a pair is
redrawn for the same user and scenario: first up to ``STRUCTURED_ROUNDS``
times from the topic and popularity model above, then uniformly among the
items of the scenario, and last uniformly among all items, which may change
the scenario. Those fallbacks flatten the top of the item
degree distribution a little and move a small share of a heavy user's
interactions out of its topics; :attr:`SyntheticData.fallback_draws` counts
them.

Draws run in chunks of ``chunk_size`` interactions, so that the temporary
arrays stay small. Generating 20M interactions took 65 s and raised the
resident memory of a process to 3.4 GiB, about 0.45 GiB of which was Python
with torch and DGL loaded (``benchmarks/perf/scaling.py`` on a 2-core VM).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from graphrec.data.tables import RawData
from graphrec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

# Redraws of repeated (user, item) pairs from the full model before the uniform fallbacks.
STRUCTURED_ROUNDS = 8
# Redraws of repeated pairs, all tiers together, before the generator gives up.
MAX_ROUNDS = 100
# First timestamp (2020-01-01 00:00 UTC) and the span of the timestamps, in seconds.
FIRST_TIMESTAMP = 1_577_836_800
TIMESTAMP_SPAN = 365 * 24 * 3600


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of :func:`generate_synthetic` (see the module docstring for the model).

    Args:
        n_users: number of users; every user gets at least ``min_user_degree`` interactions.
        n_items: number of items; an item that is never drawn is absent from the interactions.
        n_interactions: exact number of distinct (user, item) interactions.
        n_scenarios: number of scenarios; items are split evenly between them.
        user_exponent: Zipf exponent of user activity (0 gives equal activity).
        item_exponent: Zipf exponent of item popularity (0 gives equal popularity).
        p_home: probability that an interaction is in the user's home scenario.
        n_topics: number of latent topics of the preference model.
        topic_concentration: Dirichlet concentration of the users' topic mixtures.
        min_user_degree: minimum number of interactions per user.
        max_user_degree: maximum number of interactions per user; None means
            ``n_items // (2 * n_scenarios)``, half of one scenario's items,
            so that a heavy user can still find new items in its home scenario.
        seed: seed of every random draw; the same config gives the same data.
        chunk_size: interactions drawn at a time.
    """

    n_users: int = 10_000
    n_items: int = 5_000
    n_interactions: int = 1_000_000
    n_scenarios: int = 4
    user_exponent: float = 0.8
    item_exponent: float = 0.8
    p_home: float = 0.8
    n_topics: int = 8
    topic_concentration: float = 0.2
    min_user_degree: int = 5
    max_user_degree: int | None = None
    seed: int = 0
    chunk_size: int = 1 << 20

    @classmethod
    def for_interactions(cls, n_interactions: int, **overrides) -> "SyntheticConfig":
        """Return a config with ``n_interactions`` and users and items scaled with it.

        The defaults give 100 interactions per user and per item on average
        (10k users and 10k items at 1M interactions, 200k of each at 20M).
        Below 200k interactions the catalogue stays at 2,000 items, so that
        the default degree cap (half a scenario's items) stays above the mean
        user degree.
        ``overrides`` set any other field.
        """
        sizes = {"n_users": max(1, n_interactions // 100), "n_items": max(2_000, n_interactions // 100)}
        return cls(**{**sizes, "n_interactions": n_interactions, **overrides})

    @property
    def user_degree_cap(self) -> int:
        if self.max_user_degree is not None:
            return self.max_user_degree
        return max(1, self.n_items // (2 * self.n_scenarios))

    def validate(self) -> None:
        """Raise ConfigError for a value out of range or sizes that cannot be met."""
        for name in ("n_users", "n_items", "n_interactions", "n_scenarios", "n_topics", "chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"synthetic {name} must be a whole number of at least 1, got {value!r}")
        for name in ("user_exponent", "item_exponent"):
            if not 0.0 <= getattr(self, name) <= 5.0:
                raise ConfigError(f"synthetic {name} must be in [0, 5], got {getattr(self, name)!r}")
        if not 0.0 <= self.p_home <= 1.0:
            raise ConfigError(f"synthetic p_home must be a probability in [0, 1], got {self.p_home!r}")
        if self.topic_concentration <= 0:
            raise ConfigError(f"synthetic topic_concentration must be positive, got {self.topic_concentration!r}")
        if self.n_items < self.n_scenarios * self.n_topics:
            raise ConfigError(
                f"synthetic n_items ({self.n_items}) must be at least n_scenarios * n_topics "
                f"({self.n_scenarios * self.n_topics}) so that every scenario has an item of every topic; "
                "raise n_items or lower n_scenarios or n_topics"
            )
        if self.min_user_degree < 1:
            raise ConfigError(f"synthetic min_user_degree must be at least 1, got {self.min_user_degree!r}")
        cap = self.user_degree_cap
        if not self.min_user_degree <= cap <= self.n_items:
            raise ConfigError(
                f"synthetic max_user_degree ({cap}) must lie between min_user_degree "
                f"({self.min_user_degree}) and n_items ({self.n_items})"
            )
        low, high = self.n_users * self.min_user_degree, self.n_users * cap
        if not low <= self.n_interactions <= high:
            raise ConfigError(
                f"synthetic n_interactions ({self.n_interactions}) must lie between n_users * min_user_degree "
                f"({low}) and n_users * max_user_degree ({high}); change n_users or the degree bounds"
            )


@dataclass
class SyntheticData:
    """The draws of :func:`generate_synthetic_arrays`, as aligned NumPy arrays.

    ``users``, ``items``, ``scenarios`` and ``timestamps`` have one entry per
    interaction. ``user_home`` and ``item_scenario`` give the home scenario of
    each user and the scenario of each item, ``item_topic`` each item's topic.
    ``fallback_draws`` counts the redraws from the uniform fallbacks.
    """

    users: np.ndarray
    items: np.ndarray
    scenarios: np.ndarray
    timestamps: np.ndarray
    user_home: np.ndarray
    item_scenario: np.ndarray
    item_topic: np.ndarray
    fallback_draws: int


def allocate_degrees(total: int, weights: np.ndarray, low: int, high: int) -> np.ndarray:
    """Split ``total`` into whole numbers in ``[low, high]``, above ``low`` in proportion to ``weights``.

    Entries that would pass ``high`` are held there and the rest is shared
    among the others again, until none passes. The fractional parts go to the
    entries with the largest remainders, so the result sums to ``total``
    exactly. The caller checks that ``len(weights) * low <= total <=
    len(weights) * high``.
    """
    n = len(weights)
    extra_total = float(total - n * low)
    room = float(high - low)
    share = np.zeros(n, dtype=np.float64)
    free = np.ones(n, dtype=bool)
    while True:
        remaining = extra_total - share[~free].sum()
        free_weight = weights[free].sum()
        share[free] = weights[free] / free_weight * remaining if free_weight > 0 else remaining / free.sum()
        over = free & (share > room)
        if not over.any():
            break
        share[over] = room
        free &= ~over

    whole = np.floor(share).astype(np.int64)
    missing = int(round(extra_total)) - int(whole.sum())
    if missing > 0:
        whole[np.argsort(-(share - whole), kind="stable")[:missing]] += 1
    return whole + low


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Return ``rank ** -exponent`` for ``n`` entities whose ranks are a random permutation."""
    ranks = rng.permutation(n) + 1
    return ranks.astype(np.float64) ** -exponent


class _ItemSampler:
    """Draws items by (scenario, topic) bucket and popularity, by binary search on cumulative weights."""

    def __init__(self, item_bucket: np.ndarray, popularity: np.ndarray, n_buckets: int):
        self.order = np.argsort(item_bucket, kind="stable")
        sorted_bucket = item_bucket[self.order]
        self.cumulative = np.cumsum(popularity[self.order])
        self.first = np.searchsorted(sorted_bucket, np.arange(n_buckets), side="left")
        self.stop = np.searchsorted(sorted_bucket, np.arange(n_buckets), side="right")
        before = np.concatenate([[0.0], self.cumulative])
        self.mass_start = before[self.first]
        self.mass = before[self.stop] - self.mass_start

    def draw(self, buckets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        target = self.mass_start[buckets] + rng.random(len(buckets)) * self.mass[buckets]
        position = np.searchsorted(self.cumulative, target, side="right")
        # Rounding can land one step outside the bucket, so clip back into it.
        position = np.clip(position, self.first[buckets], self.stop[buckets] - 1)
        return self.order[position]

    def draw_uniform(self, buckets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        size = self.stop[buckets] - self.first[buckets]
        position = self.first[buckets] + (rng.random(len(buckets)) * size).astype(np.int64)
        return self.order[np.minimum(position, self.stop[buckets] - 1)]


class _PairSet:
    """A sorted set of ``user * n_items + item`` keys, used to reject repeated pairs."""

    def __init__(self, n_items: int):
        self.n_items = n_items
        self.keys = np.empty(0, dtype=np.int64)

    def add_new(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Add the pairs that are not in the set yet and return a mask of the rejected ones.

        Among equal new pairs the first is kept, so the outcome does not
        depend on how the rows were chunked.
        """
        keys = users.astype(np.int64) * self.n_items + items
        # Queries in sorted order make the binary searches walk the set
        # sequentially, which is several times faster on large sets.
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]

        rejected_sorted = np.zeros(len(keys), dtype=bool)
        if len(self.keys):
            position = np.minimum(np.searchsorted(self.keys, sorted_keys), len(self.keys) - 1)
            rejected_sorted = self.keys[position] == sorted_keys
        rejected_sorted[1:] |= sorted_keys[1:] == sorted_keys[:-1]

        rejected = np.empty(len(keys), dtype=bool)
        rejected[order] = rejected_sorted
        accepted = sorted_keys[~rejected_sorted]
        self.keys = np.insert(self.keys, np.searchsorted(self.keys, accepted), accepted)
        return rejected


def generate_synthetic_arrays(config: SyntheticConfig) -> SyntheticData:
    """Draw the interactions of ``config`` as NumPy arrays (see the module docstring).

    Raises ConfigError for invalid parameters and DataError when repeated
    pairs are still left after MAX_ROUNDS redraws.
    """
    config.validate()
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    n_users, n_items = config.n_users, config.n_items
    n_scenarios, n_topics = config.n_scenarios, config.n_topics

    degrees = allocate_degrees(
        config.n_interactions,
        _zipf_weights(n_users, config.user_exponent, rng),
        config.min_user_degree,
        config.user_degree_cap,
    )
    user_home = rng.integers(0, n_scenarios, size=n_users)
    topic_mix = rng.dirichlet(np.full(n_topics, config.topic_concentration), size=n_users)
    topic_cumulative = np.cumsum(topic_mix, axis=1).astype(np.float32)
    del topic_mix

    # Balanced buckets: after a random permutation, item k goes to bucket k mod (S * T).
    n_buckets = n_scenarios * n_topics
    item_bucket = np.empty(n_items, dtype=np.int64)
    item_bucket[rng.permutation(n_items)] = np.arange(n_items) % n_buckets
    item_scenario, item_topic = item_bucket // n_topics, item_bucket % n_topics
    sampler = _ItemSampler(item_bucket, _zipf_weights(n_items, config.item_exponent, rng), n_buckets)
    scenario_sampler = _ItemSampler(item_scenario, np.ones(n_items), n_scenarios)

    users = np.repeat(np.arange(n_users, dtype=np.int64), degrees)
    rng.shuffle(users)
    items = np.empty(len(users), dtype=np.int64)
    scenarios = np.empty(len(users), dtype=np.int64)
    pairs = _PairSet(n_items)
    pending_chunks = []
    for start in range(0, len(users), config.chunk_size):
        rows = np.arange(start, min(start + config.chunk_size, len(users)))
        scenarios[rows] = _draw_scenarios(users[rows], user_home, config.p_home, n_scenarios, rng)
        items[rows] = _draw_items(users[rows], scenarios[rows], topic_cumulative, sampler, n_topics, rng)
        pending_chunks.append(rows[pairs.add_new(users[rows], items[rows])])
    pending = np.concatenate(pending_chunks)

    fallback_draws = 0
    for round_index in range(MAX_ROUNDS):
        if len(pending) == 0:
            break
        if round_index < STRUCTURED_ROUNDS:
            # The scenario stays: repeats are commoner in the home scenario,
            # so new scenarios would push the home share below p_home.
            items[pending] = _draw_items(users[pending], scenarios[pending], topic_cumulative, sampler, n_topics, rng)
        elif round_index < 2 * STRUCTURED_ROUNDS:
            items[pending] = scenario_sampler.draw_uniform(scenarios[pending], rng)
            fallback_draws += len(pending)
        else:
            items[pending] = rng.integers(0, n_items, size=len(pending))
            scenarios[pending] = item_scenario[items[pending]]
            fallback_draws += len(pending)
        pending = pending[pairs.add_new(users[pending], items[pending])]
    if len(pending):
        raise DataError(
            f"synthetic generator: {len(pending)} repeated (user, item) pairs are left after {MAX_ROUNDS} "
            "redraws; raise n_items or lower max_user_degree"
        )

    timestamps = FIRST_TIMESTAMP + rng.integers(0, TIMESTAMP_SPAN, size=len(users))
    logger.info(
        "synthetic: %d interactions, %d users, %d items, %d scenarios in %.1f s (%d fallback draws)",
        len(users), n_users, n_items, n_scenarios, time.perf_counter() - started, fallback_draws,
    )
    return SyntheticData(users, items, scenarios, timestamps, user_home, item_scenario, item_topic, fallback_draws)


def _draw_scenarios(
    users: np.ndarray, user_home: np.ndarray, p_home: float, n_scenarios: int, rng: np.random.Generator
) -> np.ndarray:
    home = user_home[users]
    if n_scenarios == 1:
        return home
    away = rng.random(len(users)) >= p_home
    other = (home + rng.integers(1, n_scenarios, size=len(users))) % n_scenarios
    return np.where(away, other, home)


def _draw_items(
    users: np.ndarray,
    scenarios: np.ndarray,
    topic_cumulative: np.ndarray,
    sampler: _ItemSampler,
    n_topics: int,
    rng: np.random.Generator,
) -> np.ndarray:
    threshold = rng.random(len(users), dtype=np.float32)[:, None]
    topics = np.minimum((topic_cumulative[users] < threshold).sum(axis=1), n_topics - 1)
    return sampler.draw(scenarios * n_topics + topics, rng)


def generate_synthetic(config: SyntheticConfig | None = None, name: str = "synthetic") -> RawData:
    """Generate a synthetic dataset as RawData for the usual pipeline.

    ``interactions`` has int64 ``user_id`` and ``item_id``, ``rating`` 1.0
    (implicit feedback), ``timestamp`` (uniform over 2020) and the extra
    column ``scenario`` (int64, the item's scenario), so the scenario spec
    ``column:scenario`` applies, and it detects the item level. ``items`` has
    ``scenario`` and ``topic`` besides the standard columns, and ``users``
    has ``home_scenario``.
    """
    config = config or SyntheticConfig()
    data = generate_synthetic_arrays(config)
    interactions = pd.DataFrame(
        {
            "user_id": data.users,
            "item_id": data.items,
            "rating": np.ones(len(data.users), dtype=np.float64),
            "timestamp": data.timestamps.astype(np.int64),
            "scenario": data.scenarios,
        }
    )
    item_ids = np.arange(config.n_items, dtype=np.int64)
    items = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": pd.Series(pd.NA, index=item_ids, dtype="str"),
            "year": pd.array([pd.NA] * config.n_items, dtype="Int64"),
            "genres": pd.Series([()] * config.n_items, index=item_ids, dtype=object),
            "scenario": data.item_scenario,
            "topic": data.item_topic,
        }
    )
    users = pd.DataFrame({"user_id": np.arange(config.n_users, dtype=np.int64), "home_scenario": data.user_home})
    return RawData(name=name, interactions=interactions, items=items, users=users, genres=[])


def parse_synthetic_name(name: str) -> SyntheticConfig:
    """Build a config from a dataset name: ``synthetic`` or ``synthetic:key=value,key=value``.

    A bare number after the colon sets ``n_interactions`` and scales the
    users and items with it, as :meth:`SyntheticConfig.for_interactions`
    does: ``synthetic:5000000`` or ``synthetic:5000000,seed=3``. Raises
    ConfigError for an unknown key or a value of the wrong type.
    """
    prefix, _, parameters = name.partition(":")
    if prefix != "synthetic":
        raise ConfigError(f"not a synthetic dataset name: {name!r}; use synthetic or synthetic:key=value,...")
    types = {f.name: f.type for f in fields(SyntheticConfig)}
    values: dict[str, object] = {}
    size: int | None = None
    for part in filter(None, parameters.split(",")):
        key, equals, text = part.partition("=")
        key = key.strip()
        if not equals:
            size = _parse_number(key, int, "n_interactions")
            continue
        if key not in types:
            raise ConfigError(f"unknown synthetic parameter {key!r}; valid parameters: {', '.join(types)}")
        kind = float if types[key] == "float" else int
        values[key] = None if text.strip() == "None" else _parse_number(text.strip(), kind, key)
    if size is not None:
        return SyntheticConfig.for_interactions(size, **values)
    return SyntheticConfig(**values)


def _parse_number(text: str, kind: type, key: str) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"invalid value {text!r} for synthetic parameter {key}: expected {kind.__name__}") from None
