"""The cause of graphrec's Pop scoring higher than RecBole 1.2.1's Pop on ml-100k.

RecBole's Pop counts an item in its training step with
``item_cnt[item, :] = item_cnt[item, :] + 1`` over a batch of item ids. When
an id repeats within a batch, that indexed assignment adds 1 once, so the
count becomes the number of training batches that contain the item, not the
number of interactions. With 2,048 interactions per batch, every popular item
appears in every batch, so the top items tie. graphrec's Pop counts
interactions.

This script evaluates Pop on graphrec's split twice: with interaction counts,
and with batch-presence counts after 1 and 11 shuffled epochs of 2,048 rows
(RecBole's Pop stops after 11 epochs, when its valid score stays constant for
10). It prints test NDCG@10 and Recall@10 for each.

    python benchmarks/investigations/recbole_pop_counting.py --data-root ../shared/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from graphrec.data.paths import resolve_data_root
from graphrec.data.split import TEST, TRAIN
from graphrec.eval.evaluator import OVERALL, evaluate_model
from graphrec.experiments.config import BenchmarkConfig, from_dict
from graphrec.experiments.runner import prepare_data
from graphrec.graph.build import build_graph
from graphrec.models.pop import Pop


def batch_presence_counts(items: np.ndarray, n_items: int, epochs: int, batch_size: int, seed: int) -> np.ndarray:
    """Count, per item, the shuffled batches that contain it, summed over ``epochs``."""
    rng = np.random.default_rng(seed)
    counts = np.zeros(n_items)
    for _ in range(epochs):
        order = rng.permutation(len(items))
        for start in range(0, len(order), batch_size):
            counts[np.unique(items[order[start : start + batch_size]])] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description="Pop with interaction counts against RecBole's batch-presence counts.")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    config = from_dict(BenchmarkConfig, {"protocol": {"ks": [10]}})
    dataset = prepare_data(config, resolve_data_root(args.data_root), download=False)
    model = Pop(dataset, build_graph(dataset))
    model.fit(dataset)

    def report(label: str) -> None:
        means = evaluate_model(model, dataset, TEST, (10,), ("ndcg", "recall"), per_scenario=False).means()[OVERALL]
        print(f"{label}: NDCG@10 {means['ndcg@10']:.4f}, Recall@10 {means['recall@10']:.4f}")

    report("interaction counts (graphrec)")
    train_items = dataset.items[dataset.splits == TRAIN]
    for epochs in (1, 11):
        counts = batch_presence_counts(train_items, dataset.n_items, epochs, args.batch_size, args.seed)
        model.counts = torch.from_numpy(counts.astype(np.float32))
        tied = int((counts == counts.max()).sum())
        report(f"batch-presence counts, {epochs} epoch(s), {tied} items tied at the top")


if __name__ == "__main__":
    main()
