"""Train graphrec's LightGCN once and write timings as JSON (one process per run, for peak memory).

compare_recbole.py starts this script with graphrec's Python:

    python graphrec_driver.py --dataset ml-100k --data-root DIR --out FILE.json [--epochs ..]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import torch

from graphrec.data.split import TEST
from graphrec.eval.evaluator import OVERALL, evaluate_model
from graphrec.experiments.config import BenchmarkConfig, TrainConfig, from_dict
from graphrec.experiments.runner import prepare_data, seed_everything
from graphrec.graph.build import build_graph
from graphrec.models.registry import build_model
from graphrec.train.trainer import Trainer

METRICS = ("recall", "ndcg", "mrr", "hit", "precision")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--reg-weight", type=float, default=1e-5)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    begin = time.perf_counter()
    config = from_dict(BenchmarkConfig, {
        "dataset": {"name": args.dataset}, "scenario": "age-group" if args.dataset == "ml-100k" else "genre-channel",
        "protocol": {"seed": args.seed, "ks": [10], "metrics": list(METRICS), "valid_metric": "ndcg@10"},
    })
    dataset = prepare_data(config, args.data_root, download=False)
    graph = build_graph(dataset)
    seed_everything(args.seed)
    model = build_model("lightgcn", {"embedding_dim": 64, "n_layers": args.layers, "reg_weight": args.reg_weight},
                        dataset, graph)
    prepare_seconds = time.perf_counter() - begin

    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                        patience=args.patience)
    trainer = Trainer(train, valid_metric="ndcg@10", ks=(10,), metrics=METRICS, seed=args.seed, progress=False,
                      label="lightgcn")
    result = trainer.fit(model, dataset)

    test = evaluate_model(model, dataset, TEST, (10,), METRICS, per_scenario=False).means()[OVERALL]
    begin = time.perf_counter()
    timed = evaluate_model(model, dataset, TEST, (10,), METRICS, per_scenario=False)
    eval_seconds = time.perf_counter() - begin

    history = [
        {"train_seconds": h["train_seconds"], "valid_ndcg@10": h["valid_ndcg@10"], "elapsed_seconds": h["elapsed_seconds"]}
        for h in result.history
    ]
    record = {
        "framework": "graphrec", "torch": torch.__version__, "prepare_seconds": prepare_seconds,
        "fit_seconds": result.seconds, "history": history, "best_valid_ndcg@10": result.best_valid,
        "test": test, "eval_seconds": eval_seconds, "eval_users": int(len(timed.per_user[OVERALL]["users"])),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    args.out.write_text(json.dumps(record, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
