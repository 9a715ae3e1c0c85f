"""Train RecBole's LightGCN once and print timings as JSON (runs inside RecBole's own venv).

compare_recbole.py starts this script with the RecBole virtual environment's
Python. It imports nothing from graphrec, so the two stacks stay apart.

    python recbole_driver.py --data-path DIR --dataset NAME --out FILE.json [--epochs ..]
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-path", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--reg-weight", type=float, default=1e-5)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--checkpoint-dir", required=True)
    args = parser.parse_args()

    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    torch.set_num_threads(args.threads)
    settings = {
        "data_path": args.data_path, "checkpoint_dir": args.checkpoint_dir, "seed": args.seed,
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user",
                      "mode": {"valid": "full", "test": "full"}},
        "metrics": ["Recall", "MRR", "NDCG", "Hit", "Precision"], "topk": [10],
        "valid_metric": "NDCG@10", "epochs": args.epochs, "stopping_step": args.patience,
        "learning_rate": args.learning_rate, "n_layers": args.layers, "reg_weight": args.reg_weight,
        "embedding_size": 64, "train_batch_size": args.batch_size, "eval_step": 1,
        "show_progress": False, "save_dataset": False, "save_dataloaders": False, "device": "cpu",
        "use_gpu": False,
    }
    loaded = time.perf_counter()
    config = Config(model="LightGCN", dataset=args.dataset, config_dict=settings)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = get_model("LightGCN")(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    prepare_seconds = time.perf_counter() - loaded

    history: list[dict] = []
    started = 0.0
    train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch

    def timed_train(*a, **k):
        begin = time.perf_counter()
        loss = train_epoch(*a, **k)
        history.append({"train_seconds": time.perf_counter() - begin})
        return loss

    def timed_valid(*a, **k):
        score, result = valid_epoch(*a, **k)
        history[-1].update({"valid_ndcg@10": float(result["ndcg@10"]), "elapsed_seconds": time.perf_counter() - started})
        return score, result

    trainer._train_epoch, trainer._valid_epoch = timed_train, timed_valid
    started = time.perf_counter()
    best_score, best_result = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    fit_seconds = time.perf_counter() - started
    test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)

    begin = time.perf_counter()
    trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    eval_seconds = time.perf_counter() - begin
    n_users = len(getattr(test_data, "uid_list", [])) or int(dataset.user_num - 1)

    record = {
        "framework": "RecBole 1.2.1", "torch": torch.__version__, "prepare_seconds": prepare_seconds,
        "fit_seconds": fit_seconds, "history": history, "best_valid_ndcg@10": float(best_result["ndcg@10"]),
        "test": {k: float(v) for k, v in test_result.items()}, "eval_seconds": eval_seconds,
        "eval_users": n_users, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)


if __name__ == "__main__":
    main()
