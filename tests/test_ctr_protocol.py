"""The CTR protocol: pair logits, the random split over interactions, BCE training and AUC/log loss rows."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import real_data_root
from helpers import FIXED_TRAIN_COUNT_OF_ITEM, tiny_dataset

from graphrec.data.dataset import RecDataset, build_dataset
from graphrec.data.registry import load_dataset
from graphrec.data.scenarios import assign_scenarios
from graphrec.data.split import TEST, TRAIN, VALID
from graphrec.data.tables import RawData
from graphrec.eval.ctr import ctr_labels, logloss
from graphrec.eval.ctr_evaluator import evaluate_ctr, predict_probabilities
from graphrec.experiments.config import BenchmarkConfig, DatasetConfig, ModelConfig, ProtocolConfig, TrainConfig
from graphrec.experiments.ctr_runner import random_split_over_interactions, run_ctr_model
from graphrec.graph.build import build_graph
from graphrec.models.base import Recommender
from graphrec.models.lightgcn import LightGCN
from graphrec.models.mf import BPRMF
from graphrec.models.pointwise import PairScorer, pair_logits
from graphrec.models.pop import Pop
from graphrec.models.scenario_gnn import ScenarioGNN
from graphrec.train.ctr_trainer import CTRTrainer, regularisation

AGE_GROUPS = ("under-25", "25-34", "35-plus")


def all_pairs(dataset: RecDataset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.tensor(dataset.users),
        torch.tensor(dataset.items),
        torch.tensor(dataset.scenarios),
    )


def planted_dataset(n_users: int = 60, n_items: int = 40, per_user: int = 20, seed: int = 0) -> RecDataset:
    """Build a dataset where a user likes an item exactly when user id + item id is even.

    Liked pairs get rating 5 and the others rating 2, so the CTR label is the
    parity of the ids. A rank-1 inner product can fit this (user and item
    vectors of +v or -v), but no per-item score can. Users get ages on both
    sides of the age-group cuts, and the split is the CTR protocol's random
    80/10/10 over interactions.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, n_users + 1):
        for item in rng.choice(np.arange(1, n_items + 1), size=per_user, replace=False):
            rating = 5.0 if (user + int(item)) % 2 == 0 else 2.0
            rows.append((user, int(item), rating, 880000000 + len(rows)))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items = pd.DataFrame(
        {
            "item_id": np.arange(1, n_items + 1, dtype=np.int64),
            "title": [f"Movie {item} (1995)" for item in range(1, n_items + 1)],
            "year": pd.array([1995] * n_items, dtype="Int64"),
            "genres": [("Drama",)] * n_items,
        }
    )
    users = pd.DataFrame(
        {
            "user_id": np.arange(1, n_users + 1, dtype=np.int64),
            "age": np.array([(20, 30, 40)[user % 3] for user in range(1, n_users + 1)], dtype=np.int64),
            "gender": ["M"] * n_users,
        }
    )
    raw = RawData(name="planted", interactions=interactions, items=items, users=users, genres=["Drama"])
    dataset = build_dataset(raw, assign_scenarios("age-group", raw), (0.8, 0.1, 0.1), seed)
    splits = random_split_over_interactions(len(interactions), (0.8, 0.1, 0.1), seed)
    return dataclasses.replace(dataset, splits=splits)


class NoEmbeddings(Recommender):
    """A model with neither propagate() nor embeddings, which pair_logits cannot score."""


# pair_logits


def test_pair_logits_bprmf_dot_products():
    dataset = tiny_dataset()
    torch.manual_seed(0)
    model = BPRMF(dataset, build_graph(dataset), embedding_dim=4)
    user_weights = model.user_emb.weight.detach().numpy()
    item_weights = model.item_emb.weight.detach().numpy()
    expected = np.array(
        [sum(user_weights[u, k] * item_weights[i, k] for k in range(4)) for u, i in zip(dataset.users, dataset.items)]
    )

    logits = pair_logits(model, *all_pairs(dataset))

    assert logits.shape == (len(dataset.users),)
    np.testing.assert_allclose(logits.detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_pair_logits_match_bprmf_score():
    dataset = tiny_dataset()
    torch.manual_seed(0)
    model = BPRMF(dataset, build_graph(dataset), embedding_dim=4)
    users, items, scenarios = all_pairs(dataset)
    full_scores = model.score(users)

    logits = pair_logits(model, users, items, scenarios)

    np.testing.assert_allclose(
        logits.detach().numpy(), full_scores[torch.arange(len(users)), items].detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_pair_logits_lightgcn_propagated():
    dataset = tiny_dataset()
    torch.manual_seed(0)
    model = LightGCN(dataset, build_graph(dataset), embedding_dim=4, n_layers=2)
    with torch.no_grad():
        user_final, item_final = model.propagate()
    users, items, scenarios = all_pairs(dataset)
    expected = (user_final[users] * item_final[items]).sum(dim=1)

    logits = pair_logits(model, users, items, scenarios)

    torch.testing.assert_close(logits.detach(), expected)


def test_pair_logits_lightgcn_carry_gradients():
    dataset = tiny_dataset()
    model = LightGCN(dataset, build_graph(dataset), embedding_dim=4, n_layers=2)

    logits = pair_logits(model, *all_pairs(dataset))
    logits.sum().backward()

    assert model.user_emb.weight.grad is not None
    assert model.user_emb.weight.grad.abs().sum() > 0


def test_pair_logits_scenario_gnn_pair_scenario():
    dataset = tiny_dataset()
    torch.manual_seed(0)
    # Isolated transfer gives every scenario its own view, so the scenario index matters.
    model = ScenarioGNN(dataset, build_graph(dataset), embedding_dim=4, n_layers=2, transfer="isolated")
    with torch.no_grad():
        user_views, item_views = model.propagate()
    users, items, scenarios = all_pairs(dataset)
    expected = (user_views[users, scenarios] * item_views[items, scenarios]).sum(dim=1)
    other_scenarios = (scenarios + 1) % dataset.n_scenarios

    logits = pair_logits(model, users, items, scenarios)

    torch.testing.assert_close(logits.detach(), expected)
    assert not torch.allclose(logits.detach(), pair_logits(model, users, items, other_scenarios).detach())


def test_pair_logits_pop_centred_log_counts():
    dataset = tiny_dataset()
    model = Pop(dataset, build_graph(dataset))
    model.fit(dataset)
    # Items 0..7 are the raw ids 101..108 in ascending order.
    counts = np.array([FIXED_TRAIN_COUNT_OF_ITEM[raw_id] for raw_id in range(101, 109)], dtype=np.float64)
    log_counts = np.log(1.0 + counts)
    expected = log_counts[dataset.items] - log_counts.mean()

    logits = pair_logits(model, *all_pairs(dataset))

    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5)


def test_pair_logits_unknown_model_raises():
    dataset = tiny_dataset()
    model = NoEmbeddings(dataset, build_graph(dataset))

    with pytest.raises(TypeError, match="NoEmbeddings"):
        pair_logits(model, *all_pairs(dataset))


def test_pair_scorer_rejects_mismatched_shapes():
    dataset = tiny_dataset()
    scorer = PairScorer(BPRMF(dataset, build_graph(dataset), embedding_dim=4))

    with pytest.raises(ValueError, match="same length"):
        scorer(torch.tensor([0, 1]), torch.tensor([0]), torch.tensor([0, 0]))


# random_split_over_interactions


@pytest.mark.parametrize(
    "n, expected",
    [(10, (8, 1, 1)), (100, (80, 10, 10)), (100000, (80000, 10000, 10000)), (3, (1, 1, 1)), (0, (0, 0, 0))],
)
def test_interaction_split_counts(n, expected):
    labels = random_split_over_interactions(n, (0.8, 0.1, 0.1), seed=1)

    assert labels.dtype == np.int8
    assert labels.shape == (n,)
    assert ((labels == TRAIN).sum(), (labels == VALID).sum(), (labels == TEST).sum()) == expected


def test_interaction_split_seed_determinism():
    first = random_split_over_interactions(1000, (0.8, 0.1, 0.1), seed=5)
    again = random_split_over_interactions(1000, (0.8, 0.1, 0.1), seed=5)
    other = random_split_over_interactions(1000, (0.8, 0.1, 0.1), seed=6)

    np.testing.assert_array_equal(first, again)
    assert (first != other).any()


@pytest.mark.parametrize("ratios", [(0.8, 0.1), (0.8, 0.3, 0.1), (1.1, -0.05, -0.05)])
def test_interaction_split_invalid_ratios(ratios):
    with pytest.raises(ValueError, match="split ratios"):
        random_split_over_interactions(10, ratios, seed=0)


# CTRTrainer and evaluate_ctr


def train_bce(model: Recommender, dataset: RecDataset, labels: np.ndarray) -> float:
    rows = np.flatnonzero(dataset.splits == TRAIN)
    return logloss(labels[rows], predict_probabilities(model, dataset, rows))


def test_ctr_training_learns_planted_signal():
    dataset = planted_dataset()
    labels = ctr_labels(dataset.ratings)
    torch.manual_seed(0)
    model = BPRMF(dataset, build_graph(dataset), embedding_dim=8)
    before = train_bce(model, dataset, labels)
    config = TrainConfig(epochs=30, batch_size=128, learning_rate=0.05, patience=30)

    result = CTRTrainer(config, seed=0, progress=False).fit(model, dataset, labels)
    after = train_bce(model, dataset, labels)
    valid = evaluate_ctr(model, dataset, VALID, labels)

    assert after < before - 0.1
    assert valid["all"]["auc"] > 0.8
    assert 1 <= result.best_epoch <= 30
    assert result.epochs_run == len(result.history)
    assert result.best_valid == pytest.approx(valid["all"]["auc"])


def test_ctr_training_early_stop():
    dataset = planted_dataset()
    labels = ctr_labels(dataset.ratings)
    torch.manual_seed(0)
    model = BPRMF(dataset, build_graph(dataset), embedding_dim=8)
    # The planted signal is fitted within a few epochs. Validation AUC then
    # stays at 1.0, which is no improvement, so patience 2 ends the run.
    config = TrainConfig(epochs=200, batch_size=128, learning_rate=0.05, patience=2)

    result = CTRTrainer(config, seed=0, progress=False).fit(model, dataset, labels)

    assert result.epochs_run < 200
    assert result.epochs_run == result.best_epoch + 2
    valid_aucs = [record["valid_auc"] for record in result.history]
    assert result.best_valid == max(valid_aucs)


class ScriptedValidation(CTRTrainer):
    """A CTRTrainer whose validation AUCs follow a script and which stores the weights after each epoch."""

    def __init__(self, config: TrainConfig, valid_aucs: list[float]):
        super().__init__(config, seed=0, progress=False)
        self.valid_aucs = list(valid_aucs)
        self.weights_after_epoch: list[torch.Tensor] = []

    def _run_epoch(self, model, optimizer, dataset, targets, train_rows):
        result = super()._run_epoch(model, optimizer, dataset, targets, train_rows)
        self.weights_after_epoch.append(model.user_emb.weight.detach().clone())
        return result

    def _validate(self, model, dataset, labels):
        return self.valid_aucs.pop(0), 0.5


def test_ctr_training_restores_best_epoch():
    dataset = planted_dataset()
    labels = ctr_labels(dataset.ratings)
    model = BPRMF(dataset, build_graph(dataset), embedding_dim=8)
    trainer = ScriptedValidation(
        TrainConfig(epochs=10, batch_size=128, learning_rate=0.05, patience=2), [0.6, 0.9, 0.7, 0.65, 0.95]
    )

    result = trainer.fit(model, dataset, labels)

    assert result.best_epoch == 2
    assert result.best_valid == 0.9
    assert result.epochs_run == 4
    torch.testing.assert_close(model.user_emb.weight.detach(), trainer.weights_after_epoch[1])
    assert not torch.equal(trainer.weights_after_epoch[1], trainer.weights_after_epoch[3])


def test_ctr_training_seed_repeats():
    dataset = planted_dataset()
    labels = ctr_labels(dataset.ratings)
    config = TrainConfig(epochs=3, batch_size=128, learning_rate=0.05)
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model = BPRMF(dataset, build_graph(dataset), embedding_dim=8)
        results.append(CTRTrainer(config, seed=3, progress=False).fit(model, dataset, labels))

    assert results[0].history == results[1].history


def test_ctr_training_lightgcn_and_scenario_gnn():
    dataset = planted_dataset()
    labels = ctr_labels(dataset.ratings)
    graph = build_graph(dataset)
    config = TrainConfig(epochs=2, batch_size=256, learning_rate=0.01)
    for model in (LightGCN(dataset, graph, embedding_dim=8, n_layers=1),
                  ScenarioGNN(dataset, graph, embedding_dim=8, n_layers=1, structure_reg=0.1)):
        result = CTRTrainer(config, seed=0, progress=False).fit(model, dataset, labels)

        assert result.epochs_run == 2
        assert all(math.isfinite(record["loss"]) for record in result.history)


def test_ctr_trainer_fits_pop():
    dataset = planted_dataset()
    labels = ctr_labels(dataset.ratings)
    model = Pop(dataset, build_graph(dataset))

    result = CTRTrainer(TrainConfig(epochs=5), progress=False).fit(model, dataset, labels)

    assert model.counts.sum() == (dataset.splits == TRAIN).sum()
    assert result.best_epoch == 0
    assert result.epochs_run == 0
    assert 0.0 <= result.best_valid <= 1.0


def test_ctr_trainer_rejects_wrong_labels():
    dataset = planted_dataset()
    model = BPRMF(dataset, build_graph(dataset), embedding_dim=8)
    trainer = CTRTrainer(TrainConfig(epochs=1), progress=False)

    with pytest.raises(ValueError, match="one entry per interaction"):
        trainer.fit(model, dataset, np.ones(3, dtype=np.int8))
    with pytest.raises(ValueError, match="only 0 and 1"):
        trainer.fit(model, dataset, np.full(len(dataset.users), 4))
    with pytest.raises(ValueError, match="positive and negative validation labels"):
        trainer.fit(model, dataset, np.ones(len(dataset.users), dtype=np.int8))


def test_regularisation_matches_bpr_penalty():
    dataset = tiny_dataset()
    model = BPRMF(dataset, build_graph(dataset), embedding_dim=4, reg_weight=0.5)
    users, items = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])
    user_rows = model.user_emb.weight[users].detach()
    item_rows = model.item_emb.weight[items].detach()
    expected = 0.5 * 0.5 * (user_rows.pow(2).sum() + item_rows.pow(2).sum()) / 3

    penalty = regularisation(model, users, items, torch.zeros(3, dtype=torch.int64))

    torch.testing.assert_close(penalty.detach(), expected)


def test_regularisation_zero_weight():
    dataset = tiny_dataset()
    model = BPRMF(dataset, build_graph(dataset), embedding_dim=4, reg_weight=0.0)

    penalty = regularisation(model, torch.tensor([0]), torch.tensor([0]), torch.tensor([0]))

    assert float(penalty) == 0.0


def test_evaluate_ctr_every_scenario():
    dataset = planted_dataset()
    labels = ctr_labels(dataset.ratings)
    model = BPRMF(dataset, build_graph(dataset), embedding_dim=8)

    results = evaluate_ctr(model, dataset, TEST, labels)

    assert list(results) == ["all", *AGE_GROUPS]
    assert results["all"]["count"] == (dataset.splits == TEST).sum()
    assert sum(results[name]["count"] for name in AGE_GROUPS) == results["all"]["count"]
    for name, values in results.items():
        assert 0.0 <= values["auc"] <= 1.0, name
        assert values["logloss"] > 0.0, name


def test_evaluate_ctr_matches_manual_metrics():
    dataset = planted_dataset()
    labels = ctr_labels(dataset.ratings)
    torch.manual_seed(0)
    model = BPRMF(dataset, build_graph(dataset), embedding_dim=8)
    rows = np.flatnonzero(dataset.splits == VALID)
    with torch.no_grad():
        logits = pair_logits(model, *(tensor[rows] for tensor in all_pairs(dataset))).double()
    probabilities = (1.0 / (1.0 + np.exp(-logits.numpy())))
    expected_logloss = -np.mean(
        labels[rows] * np.log(probabilities) + (1 - labels[rows]) * np.log(1.0 - probabilities)
    )

    results = evaluate_ctr(model, dataset, VALID, labels, batch_size=7)

    assert results["all"]["logloss"] == pytest.approx(expected_logloss, rel=1e-6)


def test_evaluate_ctr_rejects_empty_split():
    dataset = planted_dataset()
    dataset = dataclasses.replace(dataset, splits=np.where(dataset.splits == TEST, TRAIN, dataset.splits))
    model = BPRMF(dataset, build_graph(dataset), embedding_dim=8)

    with pytest.raises(ValueError, match="'test' has no interactions"):
        evaluate_ctr(model, dataset, TEST, ctr_labels(dataset.ratings))


# run_ctr_model


def ctr_config(name: str = "bpr-mf", epochs: int = 2, learning_rate: float = 0.01) -> BenchmarkConfig:
    return BenchmarkConfig(
        dataset=DatasetConfig(name="ml-100k"),
        scenario="age-group",
        protocol=ProtocolConfig(seed=2020),
        models=[ModelConfig(name=name, train={"epochs": epochs, "batch_size": 2048, "learning_rate": learning_rate})],
    )


def check_rows(rows: list[dict], label: str, seed: int) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    assert set(frame["model"]) == {label}
    assert set(frame["seed"]) == {seed}
    assert set(frame["split"]) == {"valid", "test"}
    assert set(frame["scenario"]) == {"all", *AGE_GROUPS}
    assert set(frame["metric"]) == {"auc", "logloss"}
    assert len(frame) == 2 * 4 * 2
    return frame


def test_run_ctr_model_rows_synthetic():
    dataset = planted_dataset()
    config = ctr_config(epochs=2)

    run = run_ctr_model(config, 0, dataset, build_graph(dataset), seed=4, progress=False)

    check_rows(run.rows, "bpr-mf", 4)
    assert run.best_epoch in (1, 2)
    assert run.seconds > 0


def test_run_ctr_model_pop_has_no_epoch():
    dataset = planted_dataset()
    config = ctr_config(name="pop")

    run = run_ctr_model(config, 0, dataset, build_graph(dataset), seed=4, progress=False)

    check_rows(run.rows, "pop", 4)
    assert run.best_epoch is None


@pytest.mark.real_data
def test_run_ctr_model_ml100k_age_group():
    raw = load_dataset("ml-100k", real_data_root("ml-100k"), download=False)
    dataset = build_dataset(raw, assign_scenarios("age-group", raw), (0.8, 0.1, 0.1), 2020)
    splits = random_split_over_interactions(len(dataset.users), (0.8, 0.1, 0.1), 2020)
    dataset = dataclasses.replace(dataset, splits=splits)
    config = ctr_config(epochs=2, learning_rate=0.01)

    run = run_ctr_model(config, 0, dataset, build_graph(dataset), seed=2020, progress=False)

    frame = check_rows(run.rows, "bpr-mf", 2020)
    test_auc = frame.query("split == 'test' and scenario == 'all' and metric == 'auc'")["value"].item()
    assert test_auc > 0.6
    assert frame["value"].notna().all()
