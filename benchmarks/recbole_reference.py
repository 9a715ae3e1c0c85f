"""Re-run RecBole 1.2.1 models on ml-100k under the RecBole-compatible preset, here.

Each model runs with RecBole's default settings under the preset: every
rating a positive, per-user random 80/10/10 split with seed 2020, full
ranking, test metrics at 10. RecBole lives in its own virtual environment,
created by benchmarks/perf/compare_recbole.py, or by this script when missing. Writes
one JSON file per model to --work and prints a Markdown table.

    python benchmarks/recbole_reference.py --data-root ../shared/data --models Pop ItemKNN EASE BPR
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "perf"))

from compare_recbole import ensure_recbole, write_atomic_files  # noqa: E402

DRIVER = """
import json, sys
from recbole.quick_start import run_recbole
model, data_path, dataset, out, checkpoints = sys.argv[1:6]
result = run_recbole(model=model, dataset=dataset, config_dict={
    "data_path": data_path, "checkpoint_dir": checkpoints, "seed": 2020, "show_progress": False,
    "save_dataset": False, "save_dataloaders": False, "device": "cpu", "use_gpu": False,
    "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
    "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user",
                  "mode": {"valid": "full", "test": "full"}},
    "metrics": ["Recall", "MRR", "NDCG", "Hit", "Precision"], "topk": [10],
})
json.dump({"model": model, "test": {k: float(v) for k, v in result["test_result"].items()}}, open(out, "w"))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", nargs="+", default=["Pop", "ItemKNN", "EASE", "BPR"])
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache/graphrec/recbole-venv")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/graphrec/recbole-work")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    sys.path.insert(0, str(HERE.parent))
    from graphrec.data.paths import resolve_data_root

    python, note = ensure_recbole(args.venv)
    if python is None:
        print(f"RecBole is not available: {note}", file=sys.stderr)
        return 1
    args.work.mkdir(parents=True, exist_ok=True)
    atomic_root = write_atomic_files(args.dataset, resolve_data_root(args.data_root), args.work)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}

    lines = ["| RecBole model | NDCG@10 | Recall@10 | MRR@10 |", "|---|---:|---:|---:|"]
    for model in args.models:
        out = args.work / f"reference-{args.dataset}-{model}.json"
        command = [str(python), "-c", DRIVER, model, str(atomic_root), args.dataset, str(out), str(args.work / "saved")]
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=args.work)
        if done.returncode != 0:
            print(f"RecBole {model} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        test = json.loads(out.read_text())["test"]
        lines.append(f"| {model} | {test['ndcg@10']:.4f} | {test['recall@10']:.4f} | {test['mrr@10']:.4f} |")
        print(lines[-1], flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
