"""A small MovieLens-like dataset built in memory, with hand-derived facts about it.

Six users and eight movies, 40 interactions. The constants below are worked
out by hand from the tables in this file, so tests can compare the library's
output with them instead of with a second call into the library.
"""

from __future__ import annotations

from pathlib import Path

import dataclasses

import numpy as np
import pandas as pd

from graphrec.data.dataset import RecDataset, build_dataset
from graphrec.data.scenarios import assign_scenarios
from graphrec.data.split import TEST, TRAIN, VALID
from graphrec.data.tables import RawData

# Raw user id -> age. The ages sit on both sides of the age-group cuts at 25 and 35.
USER_AGES = {1: 24, 2: 25, 3: 34, 4: 35, 5: 17, 6: 61}

# Age group index per raw user id: under-25 (0), 25-34 (1), 35-plus (2).
AGE_GROUP_OF_USER = {1: 0, 2: 1, 3: 1, 4: 2, 5: 0, 6: 2}

# Raw item id -> genres, and the genre-channel index each one must get.
# Channels in tie-break order: thriller-crime (0), action-adventure (1),
# family-comedy (2), drama-romance (3), documentary-other (4).
ITEM_GENRES = {
    101: ("Crime", "Thriller"),  # 2 thriller-crime genres -> 0
    102: ("Action", "Adventure"),  # 2 action-adventure genres -> 1
    103: ("Animation", "Children's", "Comedy"),  # 3 family-comedy genres -> 2
    104: ("Drama", "Romance"),  # 2 drama-romance genres -> 3
    105: ("Documentary",),  # 1 documentary-other genre -> 4
    106: ("Comedy", "Crime"),  # tie 1-1, thriller-crime is listed first -> 0
    107: ("Drama", "Action"),  # tie 1-1, action-adventure is listed first -> 1
    108: (),  # no genre -> 4
}
CHANNEL_OF_ITEM = {101: 0, 102: 1, 103: 2, 104: 3, 105: 4, 106: 0, 107: 1, 108: 4}

# Short split labels for the table below: train, valid, test.
T, V, X = TRAIN, VALID, TEST

# Rows of (user, item, rating, timestamp, label of the fixed split). Under the
# ratios (0.8, 0.1, 0.1), split_counts gives 5 train, 1 valid and 1 test rows
# to a user with 7 interactions, and 4, 1 and 1 to a user with 6.
INTERACTIONS = [
    (1, 101, 5.0, 881250001, T),
    (1, 102, 3.0, 881250002, T),
    (1, 103, 4.0, 881250003, T),
    (1, 104, 2.0, 881250004, T),
    (1, 105, 1.0, 881250005, V),
    (1, 106, 4.0, 881250006, X),
    (1, 107, 3.0, 881250007, T),
    (2, 101, 4.0, 881250101, V),
    (2, 103, 5.0, 881250102, T),
    (2, 104, 3.0, 881250103, T),
    (2, 106, 2.0, 881250104, T),
    (2, 107, 4.0, 881250105, T),
    (2, 108, 1.0, 881250106, X),
    (3, 102, 3.0, 881250201, X),
    (3, 103, 4.0, 881250202, V),
    (3, 104, 5.0, 881250203, T),
    (3, 105, 2.0, 881250204, T),
    (3, 106, 3.0, 881250205, T),
    (3, 107, 4.0, 881250206, T),
    (3, 108, 1.0, 881250207, T),
    (4, 101, 2.0, 881250301, T),
    (4, 102, 4.0, 881250302, T),
    (4, 104, 5.0, 881250303, X),
    (4, 105, 3.0, 881250304, T),
    (4, 107, 1.0, 881250305, V),
    (4, 108, 4.0, 881250306, T),
    (5, 101, 3.0, 881250401, X),
    (5, 102, 5.0, 881250402, V),
    (5, 103, 4.0, 881250403, T),
    (5, 104, 2.0, 881250404, T),
    (5, 106, 3.0, 881250405, T),
    (5, 107, 5.0, 881250406, T),
    (5, 108, 2.0, 881250407, T),
    (6, 101, 1.0, 881250501, T),
    (6, 102, 2.0, 881250502, T),
    (6, 103, 3.0, 881250503, X),
    (6, 105, 4.0, 881250504, T),
    (6, 106, 5.0, 881250505, T),
    (6, 107, 3.0, 881250506, T),
    (6, 108, 4.0, 881250507, V),
]

# Training interactions per raw item under the fixed split, counted from the T rows above.
# Training users per item: 101 -> 1, 4, 6. 102 -> 1, 4, 6. 103 -> 1, 2, 5.
# 104 -> 1, 2, 3, 5. 105 -> 3, 4, 6. 106 -> 2, 3, 5, 6. 107 -> 1, 2, 3, 5, 6. 108 -> 3, 4, 5.
FIXED_TRAIN_COUNT_OF_ITEM = {101: 3, 102: 3, 103: 3, 104: 4, 105: 3, 106: 4, 107: 5, 108: 3}

GENRE_NAMES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]


def tiny_raw(with_users: bool = True) -> RawData:
    """Build the six-user, eight-item RawData of this module (users table optional)."""
    interactions = pd.DataFrame(
        {
            "user_id": np.array([row[0] for row in INTERACTIONS], dtype=np.int64),
            "item_id": np.array([row[1] for row in INTERACTIONS], dtype=np.int64),
            "rating": np.array([row[2] for row in INTERACTIONS], dtype=np.float64),
            "timestamp": np.array([row[3] for row in INTERACTIONS], dtype=np.int64),
        }
    )
    items = pd.DataFrame(
        {
            "item_id": np.array(list(ITEM_GENRES), dtype=np.int64),
            "title": [f"Movie {item} (1995)" for item in ITEM_GENRES],
            "year": pd.array([1995] * len(ITEM_GENRES), dtype="Int64"),
            "genres": list(ITEM_GENRES.values()),
        }
    )
    users = None
    if with_users:
        users = pd.DataFrame(
            {
                "user_id": np.array(list(USER_AGES), dtype=np.int64),
                "age": np.array(list(USER_AGES.values()), dtype=np.int64),
                "gender": ["M", "F", "M", "F", "M", "F"],
            }
        )
    return RawData(name="tiny", interactions=interactions, items=items, users=users, genres=list(GENRE_NAMES))


def fixed_split_labels() -> np.ndarray:
    """Return the split label of every row of INTERACTIONS (TRAIN, VALID or TEST)."""
    return np.array([row[4] for row in INTERACTIONS], dtype=np.int8)


def tiny_dataset(spec: str = "age-group", fixed_split: bool = True, seed: int = 7) -> RecDataset:
    """Build the tiny RecDataset under scenario ``spec``.

    With ``fixed_split`` the random split of build_dataset is replaced by the
    hand-written labels of INTERACTIONS, so expected values can be derived by
    hand. Raw user ids 1..6 become indices 0..5 and raw item ids 101..108
    become 0..7, because build_dataset sorts the ids.
    """
    raw = tiny_raw()
    dataset = build_dataset(raw, assign_scenarios(spec, raw), (0.8, 0.1, 0.1), seed)
    if fixed_split:
        dataset = dataclasses.replace(dataset, splits=fixed_split_labels())
    return dataset


def write_synthetic_ml100k(root: Path, n_users: int = 40, n_items: int = 60, seed: int = 0) -> None:
    """Write a small random dataset in the ml-100k file layout under ``root/ml-100k``."""
    rng = np.random.default_rng(seed)
    folder = root / "ml-100k"
    folder.mkdir(parents=True)

    rows = []
    for user in range(1, n_users + 1):
        items = rng.choice(np.arange(1, n_items + 1), size=int(rng.integers(12, 25)), replace=False)
        for item in items:
            rows.append(f"{user}\t{item}\t{rng.integers(1, 6)}\t{880000000 + int(rng.integers(0, 10**6))}")
    (folder / "u.data").write_text("\n".join(rows) + "\n", encoding="latin-1")

    items = []
    for item in range(1, n_items + 1):
        flags = ["0"] * 19
        flags[1 + item % 18] = "1"
        items.append("|".join([str(item), f"Movie {item} (1995)", "01-Jan-1995", "", "http://x", *flags]))
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")

    users = [f"{user}|{18 + (user * 7) % 50}|M|student|00000" for user in range(1, n_users + 1)]
    (folder / "u.user").write_text("\n".join(users) + "\n", encoding="latin-1")
