"""Tests for the synthetic interaction generator: sizes, seeds, degree skew, scenario structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphrec.data.dataset import build_dataset
from graphrec.data.scenarios import assign_scenarios
from graphrec.data.synthetic import (
    SyntheticConfig,
    allocate_degrees,
    generate_synthetic,
    generate_synthetic_arrays,
    parse_synthetic_name,
)
from graphrec.errors import ConfigError
from graphrec.graph.build import build_graph

# 2,000 users with 20 interactions each on average and 800 items: small enough
# for a fraction of a second, large enough for the skew to show.
SKEWED = SyntheticConfig(n_users=2_000, n_items=800, n_interactions=40_000, n_topics=4, seed=0)
FLAT = SyntheticConfig(
    n_users=2_000, n_items=800, n_interactions=40_000, n_topics=4, user_exponent=0.0, item_exponent=0.0, seed=0
)


def top_share(counts: np.ndarray, fraction: float) -> float:
    """Share of the total held by the largest ``fraction`` of the counts."""
    top = max(1, int(len(counts) * fraction))
    return float(np.sort(counts)[::-1][:top].sum() / counts.sum())


@pytest.fixture(scope="module")
def skewed():
    return generate_synthetic_arrays(SKEWED)


@pytest.fixture(scope="module")
def flat():
    return generate_synthetic_arrays(FLAT)


def test_exact_interaction_count(skewed):
    assert len(skewed.users) == SKEWED.n_interactions
    assert len(skewed.items) == SKEWED.n_interactions
    assert len(skewed.scenarios) == SKEWED.n_interactions


def test_every_user_within_degree_bounds(skewed):
    degrees = np.bincount(skewed.users, minlength=SKEWED.n_users)
    assert degrees.min() >= SKEWED.min_user_degree
    # The default cap is half a scenario's items: 800 // (2 * 4) = 100.
    assert degrees.max() <= 100
    assert len(np.unique(skewed.users)) == SKEWED.n_users


def test_no_repeated_pairs(skewed):
    keys = skewed.users * SKEWED.n_items + skewed.items
    assert len(np.unique(keys)) == len(keys)


def test_item_ids_in_range(skewed):
    assert skewed.items.min() >= 0
    assert skewed.items.max() < SKEWED.n_items


def test_same_seed_same_data():
    first = generate_synthetic(SKEWED)
    second = generate_synthetic(SKEWED)
    pd.testing.assert_frame_equal(first.interactions, second.interactions)
    pd.testing.assert_frame_equal(first.users, second.users)


def test_other_seed_other_data(skewed):
    other = generate_synthetic_arrays(SyntheticConfig(**{**SKEWED.__dict__, "seed": 1}))
    assert not np.array_equal(other.items, skewed.items)


def test_item_degrees_skewed(skewed, flat):
    skewed_share = top_share(np.bincount(skewed.items, minlength=SKEWED.n_items), 0.01)
    flat_share = top_share(np.bincount(flat.items, minlength=FLAT.n_items), 0.01)
    # Equal popularity gives the top 1% of items little more than 1% of the
    # interactions; Zipf 0.8 gives them several times that.
    assert flat_share < 0.02
    assert skewed_share > 0.05
    assert skewed_share > 3 * flat_share


def test_user_degrees_skewed(skewed, flat):
    skewed_share = top_share(np.bincount(skewed.users, minlength=SKEWED.n_users), 0.01)
    flat_share = top_share(np.bincount(flat.users, minlength=FLAT.n_users), 0.01)
    # Equal activity gives every user exactly 40,000 / 2,000 = 20 interactions.
    assert flat_share == pytest.approx(0.01)
    # The top 20 users sit at the cap of 100: 2,000 of 40,000 interactions.
    assert skewed_share == pytest.approx(0.05)


def test_home_share_near_p_home(skewed):
    home = skewed.scenarios == skewed.user_home[skewed.users]
    assert abs(home.mean() - SKEWED.p_home) < 0.02


def test_home_share_follows_p_home():
    config = SyntheticConfig(**{**SKEWED.__dict__, "p_home": 0.5})
    data = generate_synthetic_arrays(config)
    home = data.scenarios == data.user_home[data.users]
    assert abs(home.mean() - 0.5) < 0.02


def test_scenario_is_item_scenario(skewed):
    assert np.array_equal(skewed.scenarios, skewed.item_scenario[skewed.items])


def test_scenarios_split_items_evenly(skewed):
    sizes = np.bincount(skewed.item_scenario, minlength=SKEWED.n_scenarios)
    assert sizes.tolist() == [200, 200, 200, 200]


def test_users_prefer_their_topics(skewed):
    """Each user's most frequent topic has far more than the 1/4 share that random items would give."""
    topics = skewed.item_topic[skewed.items]
    counts = np.zeros((SKEWED.n_users, SKEWED.n_topics))
    np.add.at(counts, (skewed.users, topics), 1)
    top_topic_share = (counts.max(axis=1) / counts.sum(axis=1)).mean()
    assert top_topic_share > 0.5


def test_pipeline_builds_dataset_and_graph():
    raw = generate_synthetic(SKEWED)
    assignment = assign_scenarios("column:scenario", raw)
    assert assignment.level == "item"
    dataset = build_dataset(raw, assignment, (0.8, 0.1, 0.1), 2020)
    graph = build_graph(dataset)
    assert dataset.n_users == SKEWED.n_users
    assert len(dataset.users) == SKEWED.n_interactions
    assert graph.num_nodes("scenario") == SKEWED.n_scenarios
    assert graph.num_edges("interacts") == int((dataset.splits == 0).sum())


def test_allocate_degrees_by_hand():
    # 10 - 2 * 1 = 8 extra in the ratio 3 : 1 is 6 and 2, but the cap of
    # 6 - 1 = 5 extra stops the first at 5, so the other gets 3.
    assert allocate_degrees(10, np.array([3.0, 1.0]), low=1, high=6).tolist() == [6, 4]
    # 7 extra in equal shares of 2.33: the remainder 1 goes to the first of the equal fractions.
    assert allocate_degrees(7, np.array([1.0, 1.0, 1.0]), low=0, high=10).tolist() == [3, 2, 2]


def test_too_few_items_rejected():
    with pytest.raises(ConfigError, match="n_items"):
        SyntheticConfig(n_users=10, n_items=10, n_interactions=50, n_scenarios=4, n_topics=4).validate()


def test_too_many_interactions_rejected():
    with pytest.raises(ConfigError, match="n_interactions"):
        SyntheticConfig(n_users=10, n_items=80, n_interactions=1_000, n_topics=2).validate()


def test_invalid_p_home_rejected():
    with pytest.raises(ConfigError, match="p_home"):
        SyntheticConfig(p_home=1.5).validate()


def test_parse_name_with_size_and_seed():
    config = parse_synthetic_name("synthetic:5000000,seed=3")
    assert config.n_interactions == 5_000_000
    assert config.n_users == 50_000
    assert config.n_items == 50_000
    assert config.seed == 3


def test_parse_name_with_keys():
    config = parse_synthetic_name("synthetic:n_users=100,n_items=200,n_interactions=1000,p_home=0.5")
    assert (config.n_users, config.n_items, config.n_interactions, config.p_home) == (100, 200, 1000, 0.5)


def test_parse_name_rejects_unknown_key():
    with pytest.raises(ConfigError, match="unknown synthetic parameter 'users'"):
        parse_synthetic_name("synthetic:users=5")


def test_synthetic_dataset_by_name_in_a_benchmark(tmp_path):
    from graphrec.cli import main

    config = tmp_path / "synthetic.yaml"
    config.write_text(
        "dataset: {name: 'synthetic:3000,seed=4'}\nscenario: 'column:scenario'\n"
        "protocol: {ks: [10]}\nmodels: [{name: pop}]\n",
        encoding="utf-8",
    )
    output = tmp_path / "run"
    assert main(["benchmark", str(config), "--data-root", str(tmp_path), "--output", str(output), "--quiet"]) == 0

    import pandas as pd

    metrics = pd.read_csv(output / "metrics.csv")
    assert {"all"} < set(metrics["scenario"])
