"""The RecBole comparison script's arithmetic: time to target and ratios, on made-up timings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks/perf/compare_recbole.py"
spec = importlib.util.spec_from_file_location("compare_recbole", SCRIPT)
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)


def record(valid: list[float], train_seconds: float, elapsed_step: float, test_ndcg: float) -> dict:
    history = [
        {"train_seconds": train_seconds, "valid_ndcg@10": v, "elapsed_seconds": elapsed_step * (i + 1)}
        for i, v in enumerate(valid)
    ]
    return {
        "history": history, "best_valid_ndcg@10": max(valid), "test": {"ndcg@10": test_ndcg, "recall@10": 0.2},
        "eval_users": 900, "eval_seconds": 0.5, "peak_rss_mb": 600.0,
    }


def test_time_to_target_first_epoch():
    run = record([0.10, 0.25, 0.24, 0.30], 1.0, 2.0, 0.3)

    assert compare.time_to_target(run, 0.25) == 4.0
    assert compare.time_to_target(run, 0.31) is None


def test_summary_ratios():
    graphrec = record([0.2, 0.3, 0.31], 1.0, 1.5, 0.33)
    recbole = record([0.1, 0.2, 0.3], 4.0, 5.0, 0.30)
    recbole["eval_seconds"] = 2.0
    text = "\n".join(compare.summarise("ml-100k", graphrec, recbole))

    # 1.0 s against 4.0 s per epoch; 1800 against 450 users per second.
    assert "| seconds per training epoch | 1.00 | 4.00 | 0.25 |" in text
    assert "| evaluation throughput (users/s) | 1800 | 450 | 4.00 |" in text
    # RecBole's best valid value, 0.3, is reached by graphrec after epoch 2 (3.0 s) and by RecBole after 15.0 s.
    assert "| seconds to valid NDCG@10 >= 0.3000 (RecBole's best) | 3.0 | 15.0 | 0.20 |" in text
    assert "| test NDCG@10 | 0.3300 | 0.3000 | 1.10 |" in text
