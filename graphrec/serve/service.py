"""The recommendation service: the work behind every request, independent of HTTP.

Everything a request reads is computed once at start: the final user and
item representations (:mod:`graphrec.serve.tables`), each user's known items
and history, the popular items of every scenario, and the JSON fields of
every item. A ``recommend`` call for a known user is then one matrix-vector
product, masking and ``argpartition``.

Interactions added through :meth:`RecommendationService.add_interactions`
live in memory until the process stops. A user with added interactions is
scored with a folded-in vector (:mod:`graphrec.serve.foldin`) computed from
all of the user's interactions: the dataset's (train, valid and test) and
the added ones.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from graphrec.data.split import SPLIT_NAMES, TRAIN
from graphrec.errors import ConfigError, GraphrecError
from graphrec.serve.foldin import DEFAULT_REGULARIZATION, DEFAULT_UNOBSERVED_WEIGHT, FoldIn
from graphrec.serve.loader import LoadedRun
from graphrec.serve.tables import DenseScores, FactorTables, extract_factor_tables

logger = logging.getLogger(__name__)

#: Maximum ``k`` of one request.
MAX_K = 500
#: Items one POST /interactions may add, and items one user may add in total.
MAX_ITEMS_PER_REQUEST = 100
MAX_ADDED_PER_USER = 1000
#: Users with added interactions kept in memory at once.
MAX_SESSION_USERS = 10_000
#: Maximum number of history entries of one request.
MAX_HISTORY = 500
#: User ids listed for the page's user picker.
MAX_LISTED_USERS = 5000
#: Scenario index of an added interaction whose scenario is not known (shown in every scenario's history).
UNASSIGNED = -1


class RequestError(GraphrecError):
    """An invalid request: ``parameter`` names the offending query parameter or body field."""

    def __init__(self, parameter: str, message: str, status: int = 422):
        super().__init__(message)
        self.parameter = parameter
        self.status = status


@dataclass(frozen=True)
class _AddedInteractions:
    """One user's added interactions. Each change replaces the whole object, so readers never see half an update."""

    items: np.ndarray
    scenarios: np.ndarray
    timestamps: np.ndarray
    #: Folded-in user vector per scenario; None for models without factor tables.
    vectors: tuple[np.ndarray, ...] | None


@dataclass(frozen=True)
class Ranking:
    """A ranked list of items: ``header`` contains every response field except ``items``."""

    header: dict
    items: np.ndarray
    scores: np.ndarray


class RecommendationService:
    """Recommendations, similar items, histories and fold-in for one loaded run."""

    def __init__(
        self,
        run: LoadedRun,
        unobserved_weight: float = DEFAULT_UNOBSERVED_WEIGHT,
        regularization: float = DEFAULT_REGULARIZATION,
    ):
        self.run = run
        dataset = run.dataset
        self.n_users, self.n_items = dataset.n_users, dataset.n_items
        self.scenario_names = list(dataset.scenario_names)
        self._scenario_index = {name: s for s, name in enumerate(self.scenario_names)}
        self._user_index = {str(raw): u for u, raw in enumerate(dataset.user_ids.tolist())}
        self._item_index = {str(raw): i for i, raw in enumerate(dataset.item_ids.tolist())}
        self._item_fields = _item_fields(dataset)
        # Each item's JSON object up to its score, so that a response is joined, not encoded.
        self._item_prefixes = [json.dumps(fields, separators=(",", ":"))[:-1] + ',"score":' for fields in self._item_fields]

        self._index_interactions(dataset)
        self._index_scenarios(dataset)

        self.factors: FactorTables | None = extract_factor_tables(run.model, dataset.n_scenarios)
        self.dense: DenseScores | None = None
        self._foldins: list[FoldIn] = []
        if self.factors is not None:
            _check_finite(self.factors)
            self._foldins = _fold_ins(self.factors, unobserved_weight, regularization)
        else:
            self.dense = DenseScores(run.model, self.n_users, self.n_items, dataset.n_scenarios)
        self._similarity_tables: dict[int | None, np.ndarray] = {}
        self._transfer = _transfer_weights(run)

        self._added: dict[str, _AddedInteractions] = {}
        self._lock = threading.Lock()
        logger.info(
            "serving %s: %s tables, fold-in %s",
            run.label, "factor" if self.factors is not None else "dense score",
            "available" if self.factors is not None else "not available",
        )

    # ----- set-up -----------------------------------------------------------------

    def _index_interactions(self, dataset) -> None:
        """Group every interaction by user, newest first, and list each user's known items."""
        order = np.lexsort((-dataset.timestamps, dataset.users))
        self._rows = order
        self._row_start = np.searchsorted(dataset.users[order], np.arange(self.n_users + 1))
        self._users = dataset.users
        self._items = dataset.items
        self._ratings = dataset.ratings
        self._timestamps = dataset.timestamps
        self._scenarios = dataset.scenarios
        self._splits = dataset.splits

        known = sp.csr_matrix(
            (np.ones(len(dataset.users), dtype=np.int8), (dataset.users, dataset.items)),
            shape=(self.n_users, self.n_items),
        )
        known.sum_duplicates()
        self._known = known

        counts = np.zeros((self.n_users, dataset.n_scenarios), dtype=np.int64)
        np.add.at(counts, (dataset.users, dataset.scenarios), 1)
        # argmax picks the lowest index among ties, so the choice is deterministic.
        self._home_scenario = counts.argmax(axis=1)

    def _index_scenarios(self, dataset) -> None:
        """Rank popular items per scenario and, for item-level specs, list each scenario's items."""
        train = dataset.splits == TRAIN
        self._popular: list[tuple[np.ndarray, np.ndarray]] = []
        for s in range(dataset.n_scenarios):
            counts = np.bincount(dataset.items[train & (dataset.scenarios == s)], minlength=self.n_items)
            self._popular.append(_ranked_by_count(counts))
        self._popular_overall = _ranked_by_count(np.bincount(dataset.items[train], minlength=self.n_items))

        self._outside: list[np.ndarray | None] = [None] * dataset.n_scenarios
        self._item_scenario = None
        if dataset.scenario_level == "item":
            self._item_scenario = np.asarray(dataset.item_scenario)
            self._outside = [np.flatnonzero(self._item_scenario != s) for s in range(dataset.n_scenarios)]

    # ----- lookups -----------------------------------------------------------------

    def scenario_index(self, name: str | None) -> int | None:
        """Return the index of scenario ``name`` (None stays None); an unknown name raises RequestError."""
        if name is None:
            return None
        if name not in self._scenario_index:
            raise RequestError(
                "scenario", f"unknown scenario {name!r}; valid scenarios: {', '.join(self.scenario_names)}"
            )
        return self._scenario_index[name]

    def _check_k(self, k: int) -> None:
        if not 1 <= k <= MAX_K:
            raise RequestError("k", f"k must be between 1 and {MAX_K}, got {k}")

    def _item_of(self, raw: str, parameter: str, status: int = 422) -> int:
        index = self._item_index.get(raw)
        if index is None:
            raise RequestError(parameter, f"item {raw!r} in {parameter} not found in the dataset", status)
        return index

    def _excluded(self, user: int | None, added: _AddedInteractions | None, scenario: int) -> np.ndarray:
        """Items a user must not be recommended: known and added items, and items outside the scenario."""
        parts = []
        if user is not None:
            parts.append(self._known.indices[self._known.indptr[user] : self._known.indptr[user + 1]])
        if added is not None:
            parts.append(added.items)
        if self._outside[scenario] is not None:
            parts.append(self._outside[scenario])
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(parts)

    def to_dict(self, ranking: Ranking) -> dict:
        """Render a ranking as a JSON-ready dict; scores are rounded to 6 decimals."""
        items = [
            {**self._item_fields[i], "score": score}
            for i, score in zip(ranking.items.tolist(), _rounded(ranking.scores))
        ]
        return {**ranking.header, "items": items}

    def to_json(self, ranking: Ranking) -> bytes:
        """Render a ranking as the JSON text of :meth:`to_dict`, joined from precomputed item fragments."""
        header = json.dumps(ranking.header, separators=(",", ":"))
        items = ",".join(
            f"{self._item_prefixes[i]}{score!r}}}" for i, score in zip(ranking.items.tolist(), _rounded(ranking.scores))
        )
        return f'{header[:-1]},"items":[{items}]}}'.encode()

    # ----- requests ---------------------------------------------------------------

    def recommend(self, user: str, scenario: str | None = None, k: int = 10) -> dict:
        """Return :meth:`rank_for_user` as a JSON-ready dict."""
        return self.to_dict(self.rank_for_user(user, scenario, k))

    def rank_for_user(self, user: str, scenario: str | None = None, k: int = 10) -> Ranking:
        """Rank the top ``k`` unseen items for raw user id ``user`` in ``scenario``.

        Without ``scenario`` a known user is scored in the scenario of most of
        their interactions. A user who is neither in the dataset nor has added
        interactions gets the scenario's most popular training items, with
        ``fallback: "popular"``.
        """
        self._check_k(k)
        s = self.scenario_index(scenario)
        index = self._user_index.get(user)
        added = self._added.get(user)

        if index is None and added is None:
            return self._popular_ranking(user, s, k)
        if s is None:
            s = int(self._home_scenario[index]) if index is not None else _most_common_scenario(added)

        vector = None
        if self.factors is not None:
            vector = added.vectors[s] if added is not None else self.factors.users[s][index]
            scores = self.factors.scores(vector, s)
        elif index is not None:
            scores = np.array(self.dense.scores(index, s), dtype=np.float32, copy=True)
        else:
            # A model without factor tables cannot score a user it was not trained on.
            return self._popular_ranking(user, s, k, added=added)

        items, values = _top_k(scores, self._excluded(index, added, s), k)
        header = {
            "user": user, "scenario": self.scenario_names[s], "k": k, "model": self.run.label,
            "known_user": index is not None, "fallback": None,
            "folded_in": added is not None and vector is not None,
            "added_interactions": 0 if added is None else len(added.items),
        }
        return Ranking(header, items, values)

    def _popular_ranking(self, user: str, s: int | None, k: int, added: _AddedInteractions | None = None) -> Ranking:
        ranked, counts = self._popular_overall if s is None else self._popular[s]
        if added is not None:
            keep = ~np.isin(ranked, added.items)
            ranked, counts = ranked[keep], counts[keep]
        header = {
            "user": user, "scenario": None if s is None else self.scenario_names[s], "k": k,
            "model": self.run.label, "known_user": user in self._user_index, "fallback": "popular",
            "folded_in": False, "added_interactions": 0 if added is None else len(added.items),
        }
        return Ranking(header, ranked[:k], counts[:k])

    def similar(self, item: str, k: int = 10, scenario: str | None = None) -> dict:
        """Return :meth:`rank_similar` as a JSON-ready dict."""
        return self.to_dict(self.rank_similar(item, k, scenario))

    def rank_similar(self, item: str, k: int = 10, scenario: str | None = None) -> Ranking:
        """Rank the ``k`` items closest to raw item id ``item`` by cosine similarity.

        Factor models compare item representations: those of ``scenario``, or
        the mean over scenarios when it is not given. Other models compare
        the items' sets of training users (co-occurrence cosine).
        """
        self._check_k(k)
        s = self.scenario_index(scenario)
        index = self._item_of(item, "item", status=404)

        if self.factors is not None:
            table = self._similarity_table(s)
            scores = table @ table[index]
            method = "cosine of item representations"
        else:
            scores = self._cooccurrence(index)
            method = "cosine of training co-occurrence"
        items, values = _top_k(scores, np.array([index]), k)
        header = {
            "item": item, "title": self._item_fields[index]["title"],
            "scenario": None if s is None else self.scenario_names[s], "k": k, "model": self.run.label,
            "method": method,
        }
        return Ranking(header, items, values)

    def _similarity_table(self, scenario: int | None) -> np.ndarray:
        """Row-normalised item table of ``scenario``, or of the mean over scenarios; cached."""
        if self.factors.shared:
            scenario = 0
        table = self._similarity_tables.get(scenario)
        if table is None:
            raw = self.factors.items[scenario] if scenario is not None else np.mean(self.factors.items, axis=0)
            norms = np.linalg.norm(raw, axis=1, keepdims=True)
            table = (raw / np.maximum(norms, 1e-12)).astype(np.float32)
            self._similarity_tables[scenario] = table
        return table

    def _cooccurrence(self, item: int) -> np.ndarray:
        train = self.run.dataset.train_matrix
        column = train[:, item]
        overlap = np.asarray((train.T @ column).todense()).ravel()
        norms = np.sqrt(np.asarray(train.sum(axis=0)).ravel())
        return (overlap / np.maximum(norms * norms[item], 1e-12)).astype(np.float32)

    def history(self, user: str, scenario: str | None = None, limit: int = 20) -> dict:
        """Return a user's interactions in ``scenario`` (all scenarios when None), newest first."""
        if not 1 <= limit <= MAX_HISTORY:
            raise RequestError("limit", f"limit must be between 1 and {MAX_HISTORY}, got {limit}")
        s = self.scenario_index(scenario)
        index = self._user_index.get(user)
        entries = []

        if index is not None:
            rows = self._rows[self._row_start[index] : self._row_start[index + 1]]
            if s is not None:
                rows = rows[self._scenarios[rows] == s]
            for row in rows.tolist():
                entries.append({
                    **self._item_fields[self._items[row]], "rating": float(self._ratings[row]),
                    "timestamp": int(self._timestamps[row]), "scenario": self.scenario_names[self._scenarios[row]],
                    "source": SPLIT_NAMES[self._splits[row]],
                })

        added = self._added.get(user)
        if added is not None:
            for item, scenario_of, stamp in zip(added.items.tolist(), added.scenarios.tolist(), added.timestamps.tolist()):
                if s is not None and scenario_of not in (s, UNASSIGNED):
                    continue
                entries.append({
                    **self._item_fields[item], "rating": None, "timestamp": int(stamp),
                    "scenario": None if scenario_of == UNASSIGNED else self.scenario_names[scenario_of],
                    "source": "added",
                })

        # Newest first; among equal timestamps the added interactions come first.
        entries.sort(key=lambda entry: (-entry["timestamp"], entry["source"] != "added"))
        return {
            "user": user, "scenario": None if s is None else self.scenario_names[s],
            "known_user": index is not None, "total": len(entries), "items": entries[:limit],
        }

    def add_interactions(self, user: str, items: list[str], scenario: str | None = None) -> dict:
        """Record new interactions of ``user`` and fold the user in again.

        The scenario of each added interaction is ``scenario`` when given,
        else the item's scenario for item-level specs, else the user's
        scenario for user-level specs. Otherwise it stays unassigned.
        """
        if not items:
            raise RequestError("items", "items must list at least one item id")
        if len(items) > MAX_ITEMS_PER_REQUEST:
            raise RequestError("items", f"items may list at most {MAX_ITEMS_PER_REQUEST} ids, got {len(items)}")
        s = self.scenario_index(scenario)
        indices = np.array([self._item_of(raw, f"items[{j}]") for j, raw in enumerate(items)], dtype=np.int64)
        scenarios = self._scenarios_of_added(user, indices, s)

        with self._lock:
            before = self._added.get(user)
            if before is None and len(self._added) >= MAX_SESSION_USERS:
                raise RequestError(
                    "user", f"{MAX_SESSION_USERS} users already have added interactions; "
                    "DELETE /interactions for some of them or restart the service", status=409,
                )
            total = len(indices) + (0 if before is None else len(before.items))
            if total > MAX_ADDED_PER_USER:
                raise RequestError(
                    "items", f"user {user!r} would have {total} added interactions, more than {MAX_ADDED_PER_USER}",
                    status=409,
                )
            now = np.full(len(indices), int(time.time()), dtype=np.int64)
            if before is not None:
                indices = np.concatenate([before.items, indices])
                scenarios = np.concatenate([before.scenarios, scenarios])
                now = np.concatenate([before.timestamps, now])
            updated = _AddedInteractions(indices, scenarios, now, self._fold_in(user, indices))
            self._added[user] = updated

        logger.info("user %r: %d interactions added, %d in total", user, len(items), len(updated.items))
        return {
            "user": user, "added": len(items), "added_interactions": len(updated.items),
            "known_user": user in self._user_index, "folded_in": updated.vectors is not None,
        }

    def clear_interactions(self, user: str) -> dict:
        """Forget the interactions added for ``user``."""
        with self._lock:
            removed = self._added.pop(user, None)
        count = 0 if removed is None else len(removed.items)
        if count:
            logger.info("user %r: %d added interactions removed", user, count)
        return {"user": user, "removed": count}

    def _scenarios_of_added(self, user: str, items: np.ndarray, s: int | None) -> np.ndarray:
        if s is not None:
            return np.full(len(items), s, dtype=np.int64)
        if self._item_scenario is not None:
            return self._item_scenario[items].astype(np.int64)
        index = self._user_index.get(user)
        user_scenario = self.run.dataset.user_scenario
        if user_scenario is not None and index is not None:
            return np.full(len(items), int(user_scenario[index]), dtype=np.int64)
        return np.full(len(items), UNASSIGNED, dtype=np.int64)

    def _fold_in(self, user: str, added_items: np.ndarray) -> tuple[np.ndarray, ...] | None:
        if not self._foldins:
            return None
        index = self._user_index.get(user)
        items = added_items
        if index is not None:
            items = np.concatenate([self._known.indices[self._known.indptr[index] : self._known.indptr[index + 1]], items])
        vectors = [fold.user_vector(items) for fold in self._foldins]
        if len(vectors) == 1:
            vectors = vectors * len(self.scenario_names)
        return tuple(vectors)

    # ----- descriptions -------------------------------------------------------------

    def transfer(self) -> dict:
        """Return the model's cross-scenario transfer weights, or a note when it has none."""
        if self._transfer is None:
            return {
                "scenarios": self.scenario_names, "weights": None,
                "note": f"{self.run.label} has no cross-scenario transfer weights; scenario-gnn learns them",
            }
        return {"scenarios": self.scenario_names, "weights": self._transfer, "note": None}

    def meta(self) -> dict:
        """Describe the served run for clients and the web page."""
        dataset = self.run.dataset
        return {
            "run_id": self.run.run_id, "model": self.run.label, "model_name": self.run.spec.name,
            "seed": self.run.seed, "best_epoch": self.run.best_epoch, "dataset": dataset.name,
            "scenario_spec": dataset.scenario_spec, "scenario_level": dataset.scenario_level,
            "scenarios": self.scenario_names, "n_users": self.n_users, "n_items": self.n_items,
            "fold_in": self.factors is not None, "max_k": MAX_K,
            "users": [str(raw) for raw in dataset.user_ids[:MAX_LISTED_USERS].tolist()],
        }

    def health(self) -> dict:
        return {"status": "ok", "model": self.run.label, "users": self.n_users, "items": self.n_items,
                "users_with_added_interactions": len(self._added)}


def _item_fields(dataset) -> list[dict]:
    """JSON fields of every item: raw id, title and genres."""
    table = dataset.item_table
    titles = table["title"].tolist() if "title" in table else [None] * dataset.n_items
    genres = table["genres"].tolist() if "genres" in table else [()] * dataset.n_items
    fields = []
    for raw, title, item_genres in zip(dataset.item_ids.tolist(), titles, genres):
        if not isinstance(title, str):
            title = f"item {raw}"
        item_genres = list(item_genres) if isinstance(item_genres, (list, tuple)) else []
        fields.append({"item": str(raw), "title": title, "genres": [str(g) for g in item_genres]})
    return fields


def _ranked_by_count(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Items with a positive count, by count descending and index ascending, and their counts."""
    ranked = np.lexsort((np.arange(len(counts)), -counts))
    ranked = ranked[counts[ranked] > 0]
    return ranked, counts[ranked].astype(np.float64)


def _rounded(scores: np.ndarray) -> list[float]:
    """Scores as Python floats rounded to 6 decimals, which ``repr`` writes as valid JSON numbers."""
    return [round(score, 6) for score in scores.tolist()]


def _top_k(scores: np.ndarray, excluded: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``k`` best items outside ``excluded`` and their scores, best first.

    Equal scores go to the lower item index, also at the cut-off, so a
    ranking never depends on the partition order. ``scores`` is overwritten.
    """
    scores[excluded] = -np.inf
    n = len(scores)
    k = min(k, n)
    top = np.argpartition(scores, n - k)[n - k :]
    kth = scores[top].min()
    if np.count_nonzero(scores >= kth) > k:
        # Items outside ``top`` tie with its lowest score; keep the lowest indices among the tied.
        above = np.flatnonzero(scores > kth)
        tied = np.flatnonzero(scores == kth)[: k - len(above)]
        top = np.concatenate([above, tied])
    top = top[np.lexsort((top, -scores[top]))]
    top = top[scores[top] > -np.inf]
    return top, scores[top]


def _most_common_scenario(added: _AddedInteractions) -> int:
    assigned = added.scenarios[added.scenarios != UNASSIGNED]
    return int(np.bincount(assigned).argmax()) if len(assigned) else 0


def _fold_ins(factors: FactorTables, unobserved_weight: float, regularization: float) -> list[FoldIn]:
    tables = factors.items[:1] if factors.shared else factors.items
    return [FoldIn(table, unobserved_weight, regularization) for table in tables]


def _check_finite(factors: FactorTables) -> None:
    for s, (users, items) in enumerate(zip(factors.users, factors.items)):
        if not (np.isfinite(users).all() and np.isfinite(items).all()):
            raise ConfigError(f"the model's representations in scenario {s} contain NaN or infinite values")


def _transfer_weights(run: LoadedRun) -> list[list[float]] | None:
    table = getattr(run.model, "transfer_table", None)
    if not callable(table):
        return None
    weights = np.asarray(table(), dtype=np.float64)
    return [[round(float(w), 6) for w in row] for row in weights]
