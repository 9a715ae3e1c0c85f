"""Run folders for the serving tests: small datasets in the ml-100k layout, trained for a few epochs.

``write_genre_clustered_ml100k`` writes data whose structure is known by
construction: users come in three groups, and each group interacts mostly
with the movies of one genre. A model trained on it ranks a user's own
genre first, so tests can check that folding in movies of another genre
moves the recommendations towards that genre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from graphrec.cli import main

#: Genres of the three user groups, and their flag positions in ml-100k's u.item.
GROUP_GENRES = ("Action", "Comedy", "Drama")
GENRE_FLAG = {"Action": 1, "Comedy": 5, "Drama": 8}
ITEMS_PER_GENRE = 30
USERS_PER_GROUP = 20
OWN_GENRE_ITEMS = 12
OTHER_GENRE_ITEMS = 2
#: Ages that put users into the three age-group scenarios (under 25, 25-34, 35 and over).
AGES = (20, 30, 40)


def genre_of_item(item: int) -> str:
    """Genre of raw item id ``item`` (1-based): 1-30 Action, 31-60 Comedy, 61-90 Drama."""
    return GROUP_GENRES[(item - 1) // ITEMS_PER_GENRE]


def genre_of_user(user: int) -> str:
    """Genre that raw user id ``user`` (1-based) mostly interacts with."""
    return GROUP_GENRES[(user - 1) // USERS_PER_GROUP]


def age_of_user(user: int) -> int:
    return AGES[user % len(AGES)]


def write_genre_clustered_ml100k(root: Path, seed: int = 0) -> dict[int, list[tuple[int, int, int]]]:
    """Write the clustered dataset under ``root/ml-100k``.

    Returns each raw user's ``(item, rating, timestamp)`` rows, so that tests
    can compare the service with the written files directly.
    """
    rng = np.random.default_rng(seed)
    folder = root / "ml-100k"
    folder.mkdir(parents=True)
    n_users = USERS_PER_GROUP * len(GROUP_GENRES)
    n_items = ITEMS_PER_GENRE * len(GROUP_GENRES)

    rows: dict[int, list[tuple[int, int, int]]] = {}
    for user in range(1, n_users + 1):
        group = GROUP_GENRES.index(genre_of_user(user))
        own = rng.choice(np.arange(1, ITEMS_PER_GENRE + 1) + group * ITEMS_PER_GENRE, OWN_GENRE_ITEMS, replace=False)
        others = [item for item in range(1, n_items + 1) if genre_of_item(item) != genre_of_user(user)]
        other = rng.choice(others, OTHER_GENRE_ITEMS, replace=False)
        items = rng.permutation(np.concatenate([own, other]))
        rows[user] = [
            (int(item), int(rng.integers(3, 6)), 880_000_000 + user * 10_000 + position)
            for position, item in enumerate(items)
        ]
    lines = [f"{user}\t{item}\t{rating}\t{stamp}" for user, entries in rows.items() for item, rating, stamp in entries]
    (folder / "u.data").write_text("\n".join(lines) + "\n", encoding="latin-1")

    items = []
    for item in range(1, n_items + 1):
        flags = ["0"] * 19
        flags[GENRE_FLAG[genre_of_item(item)]] = "1"
        title = f"{genre_of_item(item)} movie {item} (1995)"
        items.append("|".join([str(item), title, "01-Jan-1995", "", "http://x", *flags]))
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")

    users = [f"{user}|{age_of_user(user)}|M|student|00000" for user in range(1, n_users + 1)]
    (folder / "u.user").write_text("\n".join(users) + "\n", encoding="latin-1")
    return rows


def train_run(data_root: Path, run_dir: Path, models: list[dict], scenario: str = "age-group", epochs: int = 30) -> Path:
    """Train ``models`` on ``data_root``'s ml-100k with ``graphrec benchmark`` and return the run folder."""
    config = {
        "dataset": {"name": "ml-100k"},
        "scenario": scenario,
        "protocol": {"split": [0.8, 0.1, 0.1], "seed": 2020, "ks": [5], "metrics": ["recall", "ndcg"],
                     "valid_metric": "ndcg@5"},
        "train": {"epochs": epochs, "batch_size": 256, "learning_rate": 0.01, "patience": epochs},
        "models": models,
        "seeds": 1,
    }
    config_path = run_dir.parent / f"{run_dir.name}.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    code = main(["benchmark", str(config_path), "--data-root", str(data_root), "--output", str(run_dir),
                 "--quiet", "--no-download"])
    assert code == 0, f"graphrec benchmark exited with {code}"
    return run_dir


SMALL_MODELS = [
    {"name": "pop"},
    {"name": "lightgcn", "params": {"embedding_dim": 16, "n_layers": 2, "reg_weight": 1.0e-4}},
    {"name": "scenario-gnn", "params": {"embedding_dim": 16, "n_layers": 2, "reg_weight": 1.0e-4}},
]
