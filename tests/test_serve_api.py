"""The serving API on a small run trained by ``graphrec benchmark``, through FastAPI's test client."""

from __future__ import annotations

import csv
import json
import socket
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from graphrec.cli import main
from graphrec.data.split import TRAIN
from graphrec.errors import ConfigError, DataError
from graphrec.serve.app import MAX_BODY_BYTES, create_app
from graphrec.serve.foldin import FoldIn
from graphrec.serve.idmaps import ID_MAPS_FILE, save_id_maps
from graphrec.serve.loader import load_run
from graphrec.serve.service import MAX_K, RecommendationService
from serve_fixtures import (
    GROUP_GENRES,
    SMALL_MODELS,
    genre_of_item,
    genre_of_user,
    train_run,
    write_genre_clustered_ml100k,
)

N_USERS, N_ITEMS = 60, 90


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """One run of Pop, LightGCN and ScenarioGNN on the genre-clustered data, trained once for this module."""
    root = tmp_path_factory.mktemp("serve-api")
    rows = write_genre_clustered_ml100k(root / "data")
    run_dir = train_run(root / "data", root / "run", SMALL_MODELS)
    services = {}
    for label in ("lightgcn", "scenario-gnn", "pop"):
        run = load_run(run_dir, model_label=label, data_root=root / "data")
        services[label] = RecommendationService(run)
    save_id_maps(run_dir, services["lightgcn"].run.dataset)
    return {"root": root, "run_dir": run_dir, "rows": rows, "services": services}


@pytest.fixture(scope="module")
def clients(trained) -> dict[str, TestClient]:
    return {label: TestClient(create_app(service)) for label, service in trained["services"].items()}


@pytest.fixture
def client(clients) -> TestClient:
    return clients["lightgcn"]


def known_items(rows, user: int) -> set[str]:
    return {str(item) for item, _, _ in rows[user]}


def genres_of(response: dict) -> list[str]:
    return [genre_of_item(int(entry["item"])) for entry in response["items"]]


# ----- reading a run folder ------------------------------------------------------------


def test_default_model_is_best_on_validation(trained):
    with open(trained["run_dir"] / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if r["split"] == "valid" and r["scenario"] == "all" and r["metric"] == "ndcg@5"]
    best = max(rows, key=lambda r: float(r["value"]))["model"]

    run = load_run(trained["run_dir"], data_root=trained["root"] / "data")

    assert run.label == best
    assert run.id_maps_checked


def test_loader_rejects_unknown_model_and_seed(trained):
    with pytest.raises(ConfigError, match="lightgcn"):
        load_run(trained["run_dir"], model_label="mult-vae", data_root=trained["root"] / "data")
    with pytest.raises(ConfigError, match="2020"):
        load_run(trained["run_dir"], seed=7, data_root=trained["root"] / "data")
    with pytest.raises(ConfigError, match="config.yaml is missing"):
        load_run(trained["root"] / "data")


def test_loader_rejects_changed_id_maps(trained, tmp_path):
    run_dir = trained["run_dir"]
    record = json.loads((run_dir / ID_MAPS_FILE).read_text())
    changed = tmp_path / "run"
    changed.mkdir()
    for name in ("config.yaml", "run.json", "metrics.csv"):
        (changed / name).write_bytes((run_dir / name).read_bytes())
    (changed / "checkpoints").symlink_to(run_dir / "checkpoints")
    record["item_ids"][3] = 999
    (changed / ID_MAPS_FILE).write_text(json.dumps(record))

    with pytest.raises(DataError, match="index 3"):
        load_run(changed, model_label="lightgcn", data_root=trained["root"] / "data")


# ----- recommendations -------------------------------------------------------------------


@pytest.mark.parametrize("label", ["lightgcn", "scenario-gnn"])
def test_recommend_matches_model_scores(trained, clients, label):
    """The top k equal a full ranking of model.score with every known item removed."""
    service = trained["services"][label]
    dataset = service.run.dataset
    for user in (1, 25, 60):
        for s, scenario in enumerate(dataset.scenario_names):
            response = clients[label].get("/recommend", params={"user": str(user), "scenario": scenario, "k": 7})
            index = int(np.flatnonzero(dataset.user_ids == user)[0])
            with torch.no_grad():
                scores = service.run.model.score(torch.tensor([index]), scenario=s)[0].numpy()
            ranked = [str(dataset.item_ids[i]) for i in np.argsort(-scores, kind="stable")]
            expected = [item for item in ranked if item not in known_items(trained["rows"], user)][:7]

            assert response.status_code == 200
            assert [entry["item"] for entry in response.json()["items"]] == expected


def test_recommend_fields_and_seen_items(trained, client):
    response = client.get("/recommend", params={"user": "7", "scenario": "under-25", "k": 10}).json()
    items = response["items"]
    scores = [entry["score"] for entry in items]

    assert response["known_user"] is True
    assert response["fallback"] is None
    assert len(items) == 10
    assert not {entry["item"] for entry in items} & known_items(trained["rows"], 7)
    assert scores == sorted(scores, reverse=True)
    for entry in items:
        genre = genre_of_item(int(entry["item"]))
        assert entry["title"] == f"{genre} movie {entry['item']} (1995)"
        assert entry["genres"] == [genre]


def test_recommend_without_scenario_uses_users_scenario(client):
    # User 3 is 20 years old (ages cycle 20, 30, 40 with the user id), so every interaction is under-25.
    response = client.get("/recommend", params={"user": "3"}).json()

    assert response["scenario"] == "under-25"


def test_unknown_user_gets_popular_items_of_scenario(trained, client):
    dataset = trained["services"]["lightgcn"].run.dataset
    s = dataset.scenario_names.index("25-34")
    counts = Counter(
        str(dataset.item_ids[item])
        for item, split, scenario in zip(dataset.items, dataset.splits, dataset.scenarios)
        if split == TRAIN and scenario == s
    )
    expected = sorted(counts, key=lambda item: (-counts[item], int(item)))[:5]

    response = client.get("/recommend", params={"user": "no-such-user", "scenario": "25-34", "k": 5}).json()

    assert response["fallback"] == "popular"
    assert response["known_user"] is False
    assert [entry["item"] for entry in response["items"]] == expected
    assert [entry["score"] for entry in response["items"]] == [counts[item] for item in expected]


def test_json_rendering_matches_dict(trained):
    service = trained["services"]["scenario-gnn"]
    for ranking in (service.rank_for_user("4", "35-plus", 12), service.rank_for_user("nobody", None, 3),
                    service.rank_similar("40", 5)):
        assert json.loads(service.to_json(ranking)) == service.to_dict(ranking)


# ----- fold-in ----------------------------------------------------------------------------


def test_foldin_solves_weighted_least_squares():
    """The closed form equals a direct least-squares solve of the weighted problem."""
    rng = np.random.default_rng(3)
    items = rng.normal(size=(40, 6))
    fold = FoldIn(items, unobserved_weight=0.2, regularization=0.5)
    observed = [2, 5, 5, 17]
    target = np.zeros(40)
    target[[2, 5, 17]] = 1.0
    confidence = np.where(target > 0, 1.0, 0.2)
    ridge = 0.5 * (items**2).sum() / 40
    design = np.vstack([np.sqrt(confidence)[:, None] * items, np.sqrt(ridge) * np.eye(6)])
    response = np.concatenate([np.sqrt(confidence) * target, np.zeros(6)])
    expected = np.linalg.lstsq(design, response, rcond=None)[0]

    np.testing.assert_allclose(fold.user_vector(np.array(observed)), expected, rtol=1e-5, atol=1e-6)


def test_added_genre_moves_recommendations(trained, client):
    """After three Comedy movies, Action users get more Comedy and a different list."""
    comedy = ["31", "32", "33"]
    action_users = [user for user in range(1, 61) if genre_of_user(user) == "Action"][:5]
    before, after = {}, {}
    for user in action_users:
        before[user] = client.get("/recommend", params={"user": str(user), "k": 10}).json()
        added = client.post("/interactions", json={"user": str(user), "items": comedy})
        after[user] = client.get("/recommend", params={"user": str(user), "k": 10}).json()
        client.delete("/interactions", params={"user": str(user)})

        assert added.status_code == 200
        assert added.json()["folded_in"] is True
        assert after[user]["folded_in"] is True
        assert [e["item"] for e in after[user]["items"]] != [e["item"] for e in before[user]["items"]]
        assert not set(comedy) & {e["item"] for e in after[user]["items"]}

    comedy_before = sum(genres_of(before[user]).count("Comedy") for user in action_users)
    comedy_after = sum(genres_of(after[user]).count("Comedy") for user in action_users)
    assert comedy_after > comedy_before


def test_new_user_is_folded_in(client):
    drama = ["61", "62", "63"]
    before = client.get("/recommend", params={"user": "newcomer", "k": 10}).json()
    client.post("/interactions", json={"user": "newcomer", "items": drama})
    after = client.get("/recommend", params={"user": "newcomer", "k": 10}).json()
    client.delete("/interactions", params={"user": "newcomer"})

    assert before["fallback"] == "popular"
    assert after["fallback"] is None
    assert after["folded_in"] is True
    assert genres_of(after).count("Drama") >= 6
    assert not set(drama) & {entry["item"] for entry in after["items"]}


def test_delete_restores_trained_recommendations(client):
    params = {"user": "12", "scenario": "35-plus", "k": 10}
    original = client.get("/recommend", params=params).json()
    client.post("/interactions", json={"user": 12, "items": [40, "41"]})
    changed = client.get("/recommend", params=params).json()
    removed = client.delete("/interactions", params={"user": "12"}).json()
    restored = client.get("/recommend", params=params).json()

    assert changed["added_interactions"] == 2
    assert removed == {"user": "12", "removed": 2}
    assert restored == original


def test_history_lists_added_first(trained, client):
    user = 2
    client.post("/interactions", json={"user": str(user), "items": ["90"]})
    response = client.get("/history", params={"user": str(user), "limit": 50}).json()
    client.delete("/interactions", params={"user": str(user)})
    written = sorted(trained["rows"][user], key=lambda row: -row[2])

    assert response["total"] == len(written) + 1
    assert response["items"][0]["item"] == "90"
    assert response["items"][0]["source"] == "added"
    assert [entry["item"] for entry in response["items"][1:]] == [str(item) for item, _, _ in written]
    assert [entry["rating"] for entry in response["items"][1:]] == [float(r) for _, r, _ in written]


def test_history_of_other_scenario_is_empty(client):
    # User 3 is under 25, so no interaction of theirs happened in 35-plus.
    response = client.get("/history", params={"user": "3", "scenario": "35-plus"}).json()

    assert response["known_user"] is True
    assert response["total"] == 0


def test_pop_has_no_foldin_but_masks_added(trained, clients):
    pop = clients["pop"]
    before = pop.get("/recommend", params={"user": "9", "k": 3}).json()
    top = before["items"][0]["item"]
    added = pop.post("/interactions", json={"user": "9", "items": [top]}).json()
    after = pop.get("/recommend", params={"user": "9", "k": 3}).json()
    pop.delete("/interactions", params={"user": "9"})

    assert trained["services"]["pop"].factors is None
    assert added["folded_in"] is False
    assert after["items"][0]["item"] != top
    assert [e["item"] for e in after["items"][:2]] == [e["item"] for e in before["items"][1:3]]


# ----- similar items and transfer weights ---------------------------------------------


def test_similar_matches_cosine_of_item_vectors(trained, clients):
    service = trained["services"]["lightgcn"]
    with torch.no_grad():
        _, items = service.run.model.propagate()
    items = items.numpy()
    normed = items / np.linalg.norm(items, axis=1, keepdims=True)
    query = int(np.flatnonzero(service.run.dataset.item_ids == 10)[0])
    cosine = normed @ normed[query]
    cosine[query] = -np.inf
    expected = [str(service.run.dataset.item_ids[i]) for i in np.argsort(-cosine, kind="stable")[:5]]

    response = clients["lightgcn"].get("/similar", params={"item": "10", "k": 5}).json()

    assert [entry["item"] for entry in response["items"]] == expected


def test_transfer_weights(trained, clients):
    gnn = clients["scenario-gnn"].get("/transfer").json()
    lightgcn = clients["lightgcn"].get("/transfer").json()
    table = trained["services"]["scenario-gnn"].run.model.transfer_table()

    assert gnn["scenarios"] == ["under-25", "25-34", "35-plus"]
    np.testing.assert_allclose(gnn["weights"], table, atol=1e-6)
    np.testing.assert_allclose(np.sum(gnn["weights"], axis=1), 1.0, atol=1e-5)
    assert lightgcn["weights"] is None
    assert "scenario-gnn" in lightgcn["note"]


def test_health_and_meta(client):
    health = client.get("/health").json()
    meta = client.get("/meta").json()

    assert health["status"] == "ok"
    assert meta["n_users"] == N_USERS
    assert meta["n_items"] == N_ITEMS
    assert meta["users"] == [str(user) for user in range(1, N_USERS + 1)]
    assert meta["scenarios"] == ["under-25", "25-34", "35-plus"]


def test_page_and_static_files(client):
    page = client.get("/")
    script = client.get("/static/app.js")

    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert 'src="/static/app.js"' in page.text
    assert script.status_code == 200
    assert "http://" not in script.text
    assert "https://" not in script.text


# ----- invalid input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"user": "1", "scenario": "weekend"}, "scenario"),
        ({"user": "1", "k": "0"}, "k"),
        ({"user": "1", "k": "-3"}, "k"),
        ({"user": "1", "k": str(MAX_K + 1)}, "k"),
        ({"user": "1", "k": "ten"}, "k"),
        ({"user": "1", "k": "2.5"}, "k"),
        ({"user": "1", "k": "9" * 5000}, "k"),
        ({"scenario": "25-34"}, "user"),
        ({"user": ""}, "user"),
        ({"user": "u" * 201}, "user"),
    ],
)
def test_bad_recommend_query_names_parameter(client, params, parameter):
    response = client.get("/recommend", params=params)

    assert response.status_code == 422
    assert response.json()["parameter"] == parameter
    assert parameter.split("[")[0] in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"user": "1", "items": []}, "items"),
        ({"user": "1", "items": ["1", "no-such-item"]}, "items[1]"),
        ({"user": "1", "items": [True]}, "items[0]"),
        ({"user": "1", "items": "12"}, "items"),
        ({"user": "1"}, "items"),
        ({"items": ["1"]}, "user"),
        ({"user": None, "items": ["1"]}, "user"),
        ({"user": "1", "items": ["1"], "scenario": "nowhere"}, "scenario"),
        ({"user": "1", "items": ["1"], "rating": 5}, "rating"),
        ({"user": "1", "items": [str(i) for i in range(1, 91)] * 2}, "items"),
        ([1, 2], "body"),
    ],
)
def test_bad_interactions_body_names_parameter(client, body, parameter):
    response = client.post("/interactions", json=body)

    assert response.status_code == 422
    assert response.json()["parameter"] == parameter


def test_malformed_and_oversized_bodies(client):
    broken = client.post("/interactions", content=b'{"user": "1", "items": [', headers={"content-type": "application/json"})
    oversized = client.post("/interactions", content=b"x" * (MAX_BODY_BYTES + 1),
                            headers={"content-type": "application/json"})
    not_json = client.post("/interactions", content=b"\xff\xfe", headers={"content-type": "application/json"})

    assert broken.status_code == 422
    assert broken.json()["parameter"] == "body"
    assert oversized.status_code == 413
    assert oversized.json()["parameter"] == "body"
    assert not_json.status_code == 422


def test_unknown_item_in_similar_is_404(client):
    response = client.get("/similar", params={"item": "12345"})

    assert response.status_code == 404
    assert response.json()["parameter"] == "item"


def test_odd_requests_never_fail_the_service(client):
    odd_queries = [
        "/recommend?user=%00", "/recommend?user=%FF%FE", "/recommend?user=1&k=", "/recommend?user=1&k=%20",
        "/recommend?user=1&k=1e3", "/recommend?user=1&user=2", "/recommend?user=1&scenario=",
        "/recommend?user=\u00e9\u00e8", "/similar?item=", "/similar?item=1&k=0", "/history?user=1&limit=0",
        "/history?user=1&limit=abc", "/history?user=1&scenario=%00", "/recommend?user=1&k=%2B5",
    ]
    for path in odd_queries:
        assert client.get(path).status_code < 500, path
    for body in ['{"user": {"a": 1}, "items": ["1"]}', '{"user": "1", "items": [[1]]}', '{"user": "1", "items": [1e400]}',
                 "null", "", '{"user": "1", "items": ["1"]}' + " " * 10]:
        response = client.post("/interactions", content=body.encode(), headers={"content-type": "application/json"})
        assert response.status_code < 500, body
    client.delete("/interactions", params={"user": "1"})
    assert client.get("/health").status_code == 200


def test_serve_command_reports_missing_run(tmp_path: Path, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["serve", str(tmp_path / "missing"), "--port", str(port)])

    assert code == 2
    assert "config.yaml is missing" in capsys.readouterr().err


def test_genres_of_fixture_are_three():
    # Guards the fixture itself: the genre tests above assume three genres of 30 movies.
    assert GROUP_GENRES == ("Action", "Comedy", "Drama")
    assert [genre_of_item(item) for item in (1, 30, 31, 60, 61, 90)] == ["Action"] * 2 + ["Comedy"] * 2 + ["Drama"] * 2


def test_top_k_breaks_ties_by_index():
    from graphrec.serve.service import _top_k

    scores = np.array([1.0, 3.0, 2.0, 2.0, 5.0, 2.0, 2.0], dtype=np.float32)
    items, values = _top_k(scores.copy(), np.array([4]), 3)
    assert items.tolist() == [1, 2, 3]
    assert values.tolist() == [3.0, 2.0, 2.0]

    items, _ = _top_k(scores.copy(), np.array([1, 2]), 10)
    assert items.tolist() == [4, 3, 5, 6, 0]


def test_rejection_log_thins_repeats(caplog):
    from graphrec.serve.app import RejectionLog

    rejections = RejectionLog(first=2, every=3)
    with caplog.at_level("INFO", logger="graphrec.serve.app"):
        for _ in range(7):
            response = rejections.reject("GET", "/recommend", 422, "k", "k must be between 1 and 500, got 0")

    assert response.status_code == 422
    assert [record.args[-1] for record in caplog.records] == [1, 2, 3, 6]
