"""The sampled-negative protocol: OGB and graphrec metrics, the tie rule, the negatives and the runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
import yaml
from ogb.linkproppred import Evaluator

from graphrec.cli import main
from graphrec.data.split import TEST, TRAIN, VALID
from graphrec.errors import DataError
from graphrec.eval.sampled import (
    NEGATIVES_FILE,
    NegativeSample,
    SampledCandidates,
    break_ties_against_positive,
    draw_negatives,
    evaluate_sampled,
    graphrec_rank_metrics,
    load_or_sample_negatives,
    ogb_rank_metrics,
    pessimistic_ranks,
    sample_negatives,
)
from graphrec.experiments.config import BenchmarkConfig, from_dict
from graphrec.experiments.runner import prepare_data
from helpers import write_synthetic_ml100k


def _leave_last_out_dataset(root: Path, n_users: int = 20, n_items: int = 60):
    write_synthetic_ml100k(root, n_users=n_users, n_items=n_items)
    config = from_dict(BenchmarkConfig, {
        "protocol": {"kind": "sampled", "split_method": "leave-last-out"}, "models": [{"name": "pop"}],
    })
    return prepare_data(config, root, download=False)


def _items_by_user(dataset) -> dict[int, set[int]]:
    items: dict[int, set[int]] = {}
    for user, item in zip(dataset.users.tolist(), dataset.items.tolist()):
        items.setdefault(user, set()).add(item)
    return items


# ---------------------------------------------------------------------------
# OGB's evaluator against graphrec's metric code


def test_ogb_and_graphrec_agree_on_random_scores():
    rng = np.random.default_rng(0)
    positive = rng.normal(size=400)
    negative = rng.normal(size=(400, 100))
    # A rank computed directly, for a third opinion: continuous scores have no ties.
    direct_rank = 1 + (negative > positive[:, None]).sum(axis=1)

    ogb = Evaluator("ogbl-citation2").eval(
        {"y_pred_pos": torch.from_numpy(positive), "y_pred_neg": torch.from_numpy(negative)}
    )
    ours = graphrec_rank_metrics(positive, negative, ks=(10,))
    wrapped = ogb_rank_metrics(positive, negative, ks=(10,))

    assert ogb["hits@10_list"].double().mean().item() == ours["hit@10"].mean()
    assert ogb["mrr_list"].double().mean().item() == pytest.approx(ours["mrr"].mean(), rel=1e-6)
    assert ours["hit@10"].mean() == np.mean(direct_rank <= 10)
    assert ours["mrr"].mean() == pytest.approx(np.mean(1.0 / direct_rank), rel=1e-12)
    assert np.array_equal(wrapped["hit@10"], ours["hit@10"])
    assert np.allclose(wrapped["ndcg@10"], ours["ndcg@10"], rtol=1e-12, atol=0)


def test_ogb_hits_mode_uses_global_threshold():
    """OGB's Hits@K datasets pool all negatives, which is not per-user HR@K."""
    positive = np.array([0.5, 0.8])
    negative = np.array([[0.1, 0.2], [0.9, 0.7]])
    # Per user: user 0 ranks first (hit at 1), user 1 ranks second, so HR@1 = 0.5.
    evaluator = Evaluator("ogbl-ddi")
    evaluator.K = 1

    pooled = evaluator.eval({"y_pred_pos": torch.from_numpy(positive), "y_pred_neg": torch.from_numpy(negative.ravel())})

    # The pooled threshold is the highest negative, 0.9, and no positive beats it.
    assert pooled["hits@1"] == 0.0
    assert ogb_rank_metrics(positive, negative, ks=(1,))["hit@1"].mean() == 0.5


def test_hand_computed_example():
    negative = np.array([[0.1, 0.2, 0.3, 0.4]] * 3)
    positive = np.array([0.9, 0.35, 0.05])
    # Ranks 1, 2 and 5 among five candidates.
    expected = {
        "hit@1": [1.0, 0.0, 0.0],
        "hit@3": [1.0, 1.0, 0.0],
        "ndcg@3": [1.0, 1.0 / np.log2(3.0), 0.0],
        "mrr": [1.0, 0.5, 0.2],
    }

    for values in (ogb_rank_metrics(positive, negative, (1, 3)), graphrec_rank_metrics(positive, negative, (1, 3))):
        for name, want in expected.items():
            assert np.allclose(values[name], want, rtol=1e-6, atol=0), name
    assert np.array_equal(pessimistic_ranks(positive, negative), [1, 2, 5])


def test_cutoff_above_candidate_count():
    values = graphrec_rank_metrics(np.array([0.0]), np.array([[1.0, 2.0]]), ks=(10,))

    # Three candidates, rank 3: every cutoff of 3 or more is a hit.
    assert values["hit@10"][0] == 1.0
    assert values["ndcg@10"][0] == pytest.approx(0.5)


# ---------------------------------------------------------------------------
# Tie rule


def test_tie_ranks_positive_below_negatives():
    positive = np.array([0.5])
    negative = np.array([[0.5, 0.9, 0.1]])

    raw = Evaluator("ogbl-citation2").eval({"y_pred_pos": torch.from_numpy(positive), "y_pred_neg": torch.from_numpy(negative)})

    # OGB alone counts the tie as half a negative above: rank 2.5.
    assert raw["mrr_list"].item() == pytest.approx(1 / 2.5)
    # The tie rule: 0.5 and 0.9 are both >= 0.5, so rank 3.
    assert pessimistic_ranks(positive, negative)[0] == 3
    assert ogb_rank_metrics(positive, negative, (1,))["mrr"][0] == pytest.approx(1 / 3)
    assert graphrec_rank_metrics(positive, negative, (1,))["mrr"][0] == pytest.approx(1 / 3)


def test_constant_scores_rank_last():
    positive = np.zeros(4)
    negative = np.zeros((4, 100))

    for values in (ogb_rank_metrics(positive, negative, (10,)), graphrec_rank_metrics(positive, negative, (10,))):
        assert values["hit@10"].sum() == 0.0
        assert np.allclose(values["mrr"], 1 / 101, rtol=1e-6)


def test_tie_break_keeps_strict_order():
    positive = np.array([1.0, -2.0])
    negative = np.array([[1.0, 0.999999, 1.000001], [-2.0, -3.0, 5.0]])

    _, broken = break_ties_against_positive(positive, negative)

    assert broken[0, 0] > 1.0
    assert broken[1, 0] > -2.0
    assert np.array_equal(broken[:, 1:], negative[:, 1:])
    assert np.array_equal(broken > positive[:, None], negative >= positive[:, None])


def test_nan_scores_rejected():
    with pytest.raises(ValueError, match="NaN"):
        pessimistic_ranks(np.array([np.nan]), np.array([[0.0]]))


# ---------------------------------------------------------------------------
# Negatives


def test_negatives_exclude_every_interacted_item(tmp_path: Path):
    dataset = _leave_last_out_dataset(tmp_path)
    seen = _items_by_user(dataset)

    sample = sample_negatives(dataset, n_negatives=25, seed=4)

    for name in ("valid", "test"):
        candidates = sample.splits[name]
        assert len(candidates) == dataset.n_users  # leave-last-out: one held-out item per user
        assert candidates.negatives.shape == (dataset.n_users, 25)
        for user, item, row in zip(candidates.users, candidates.items, candidates.negatives):
            assert item in seen[user]
            assert len(set(row.tolist())) == 25
            assert not set(row.tolist()) & seen[user], (name, user)


def test_negatives_are_seeded(tmp_path: Path):
    dataset = _leave_last_out_dataset(tmp_path)

    first = sample_negatives(dataset, 10, seed=1).splits["test"].negatives
    again = sample_negatives(dataset, 10, seed=1).splits["test"].negatives
    other = sample_negatives(dataset, 10, seed=2).splits["test"].negatives
    valid = sample_negatives(dataset, 10, seed=1).splits["valid"].negatives

    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, valid)


def test_negatives_uniform_over_unseen_items():
    interacted = sp.csr_matrix((np.ones(5), ([0] * 5, [0, 3, 6, 9, 12])), shape=(1, 20))
    rng = np.random.default_rng(11)

    draws = np.concatenate([draw_negatives(interacted, np.array([0]), 5, rng)[0] for _ in range(3000)])
    counts = np.bincount(draws, minlength=20)

    # 15 unseen items, 5 per draw: each is expected 3000 * 5 / 15 = 1000 times,
    # with a binomial standard deviation of about 26.
    assert counts[[0, 3, 6, 9, 12]].sum() == 0
    unseen = np.delete(counts, [0, 3, 6, 9, 12])
    assert unseen.min() > 900
    assert unseen.max() < 1100


def test_too_few_unseen_items_rejected():
    interacted = sp.csr_matrix(np.array([[1, 1, 1, 0, 0]]))

    with pytest.raises(DataError, match="lower protocol.n_negatives to at most 2"):
        draw_negatives(interacted, np.array([0]), 3, np.random.default_rng(0))


def test_negative_file_round_trip(tmp_path: Path):
    dataset = _leave_last_out_dataset(tmp_path / "data")
    path = tmp_path / NEGATIVES_FILE

    written = load_or_sample_negatives(dataset, 10, 5, path)
    read = NegativeSample.load(path)
    replaced = load_or_sample_negatives(dataset, 10, 6, path)

    assert (read.seed, read.n_negatives, read.digest) == (5, 10, written.digest)
    for name in ("valid", "test"):
        assert np.array_equal(read.splits[name].negatives, written.splits[name].negatives)
        assert np.array_equal(read.splits[name].items, written.splits[name].items)
    assert NegativeSample.load(path).seed == 6
    assert not np.array_equal(replaced.splits["test"].negatives, written.splits["test"].negatives)


def test_evaluate_sampled_scores_per_user():
    # Two rows of user 3 (ranks 1 and 3) and one of user 5 (rank 2).
    scores = torch.tensor([[0.0] * 6, [0.0] * 6, [0.0] * 6, [9.0, 8.0, 7.0, 6.0, 5.0, 4.0],
                           [0.0] * 6, [1.0, 3.0, 2.0, 0.0, 0.0, 0.0]])
    candidates = SampledCandidates(
        users=np.array([3, 3, 5]), items=np.array([0, 2, 2]), negatives=np.array([[4, 5], [0, 1], [1, 3]])
    )

    values = evaluate_sampled(lambda users: scores[torch.from_numpy(users)], candidates, n_items=6, ks=(1,),
                              batch_size=2)

    assert values["users"].tolist() == [3, 5]
    assert np.allclose(values["hit@1"], [0.5, 0.0])
    assert np.allclose(values["mrr"], [(1 + 1 / 3) / 2, 0.5], rtol=1e-6)


# ---------------------------------------------------------------------------
# Runner


def _sampled_config(path: Path, **protocol) -> Path:
    path.write_text(yaml.safe_dump({
        "scenario": "age-group",
        "protocol": {"kind": "sampled", "split_method": "leave-last-out", "n_negatives": 20, "seed": 3,
                     "ks": [5], "metrics": ["ndcg", "hit", "mrr"], "valid_metric": "mrr@5", **protocol},
        "train": {"epochs": 2, "batch_size": 128, "learning_rate": 0.01},
        "models": [{"name": "pop"}, {"name": "bpr-mf", "params": {"embedding_dim": 8}}],
    }), encoding="utf-8")
    return path


def test_benchmark_writes_sampled_rows(tmp_path: Path, monkeypatch):
    import graphrec.experiments.sampled_runner as sampled_runner

    write_synthetic_ml100k(tmp_path / "data", n_users=30, n_items=60)
    seen_candidates = []
    original = sampled_runner.evaluate_sampled

    def recording(score_fn, candidates, *args, **kwargs):
        seen_candidates.append(candidates)
        return original(score_fn, candidates, *args, **kwargs)

    monkeypatch.setattr(sampled_runner, "evaluate_sampled", recording)
    config = _sampled_config(tmp_path / "sampled.yaml")

    code = main(["benchmark", str(config), "--data-root", str(tmp_path / "data"),
                 "--output", str(tmp_path / "run"), "--quiet"])

    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert code == 0
    assert set(metrics["metric"]) == {"hit@5", "ndcg@5", "mrr"}
    assert set(metrics["split"]) == {"valid", "test"}
    assert len(metrics) == 2 * 2 * 3
    # Calls in order: pop valid, pop test, bpr-mf valid, bpr-mf test.
    stored = NegativeSample.load(tmp_path / "run" / NEGATIVES_FILE).splits["test"]
    assert len(seen_candidates) == 4
    assert np.array_equal(seen_candidates[0].negatives, seen_candidates[2].negatives)
    assert np.array_equal(seen_candidates[1].negatives, seen_candidates[3].negatives)
    assert np.array_equal(seen_candidates[1].negatives, stored.negatives)

    # Pop's test values, recomputed from the stored negatives and the training counts.
    dataset = prepare_data(from_dict(BenchmarkConfig, yaml.safe_load(config.read_text())), tmp_path / "data", download=False)
    train = dataset.splits == TRAIN
    counts = np.bincount(dataset.items[train], minlength=dataset.n_items)
    ranks = 1 + (counts[stored.negatives] >= counts[stored.items][:, None]).sum(axis=1)
    pop = metrics[(metrics["model"] == "pop") & (metrics["split"] == "test")].set_index("metric")["value"]
    assert pop["hit@5"] == pytest.approx(np.mean(ranks <= 5))
    assert pop["mrr"] == pytest.approx(np.mean(1.0 / ranks), rel=1e-6)


def test_sampled_needs_computed_valid_metric(tmp_path: Path, capsys):
    write_synthetic_ml100k(tmp_path / "data", n_users=10, n_items=60)
    config = _sampled_config(tmp_path / "bad.yaml", valid_metric="recall@5")

    code = main(["benchmark", str(config), "--data-root", str(tmp_path / "data"),
                 "--output", str(tmp_path / "run"), "--quiet"])

    assert code == 2
    assert "protocol.valid_metric 'recall@5' is not computed" in capsys.readouterr().err


def test_split_codes_of_candidates(tmp_path: Path):
    dataset = _leave_last_out_dataset(tmp_path)
    sample = sample_negatives(dataset, 5, seed=0)

    for name, code in (("valid", VALID), ("test", TEST)):
        held_out = set(zip(dataset.users[dataset.splits == code].tolist(), dataset.items[dataset.splits == code].tolist()))
        rows = set(zip(sample.splits[name].users.tolist(), sample.splits[name].items.tolist()))
        assert rows == held_out
