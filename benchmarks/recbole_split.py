"""Export RecBole's own ml-100k split, so graphrec can score models on exactly that split.

RecBole 1.2.1 draws the preset's per-user random 80/10/10 split with its own
random generator, so graphrec's split of the same kind contains different
interactions. This script asks RecBole (in its own virtual environment, see
benchmarks/perf/compare_recbole.py) for its split with seed 2020 and writes
``train.csv``, ``valid.csv`` and ``test.csv`` with raw ids to --output, plus
``config.yaml``: benchmarks/configs/ml100k-cf.yaml's models with
``split_method: files`` pointing at those files. Then

    python benchmarks/recbole_split.py --data-root ../shared/data --output /tmp/recbole-split
    graphrec benchmark /tmp/recbole-split/config.yaml --data-root ../shared/data

scores graphrec's models on RecBole's split, so differences from RecBole's
numbers come from the models alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "perf"))

from compare_recbole import ensure_recbole, write_atomic_files  # noqa: E402

DRIVER = """
import sys
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed
data_path, dataset_name, output = sys.argv[1:4]
config = Config(model="Pop", dataset=dataset_name, config_dict={
    "data_path": data_path, "seed": 2020, "show_progress": False, "save_dataset": False,
    "save_dataloaders": False, "device": "cpu", "use_gpu": False,
    "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
    "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user",
                  "mode": {"valid": "full", "test": "full"}},
})
init_seed(config["seed"], config["reproducibility"])
dataset = create_dataset(config)
parts = data_preparation(config, dataset)
# RecBole rescales float fields, so ratings and timestamps come from the atomic file.
original = {}
with open(f"{data_path}/{dataset_name}/{dataset_name}.inter", encoding="utf-8") as handle:
    next(handle)
    for line in handle:
        user, item, rating, timestamp = line.rstrip("\\n").split("\\t")
        original[(user, item)] = (rating, timestamp)
for name, loader in zip(("train", "valid", "test"), parts):
    inter = loader._dataset.inter_feat
    users = dataset.id2token("user_id", inter["user_id"].numpy())
    items = dataset.id2token("item_id", inter["item_id"].numpy())
    with open(f"{output}/{name}.csv", "w", encoding="utf-8") as handle:
        handle.write("user_id,item_id,rating,timestamp\\n")
        for user, item in zip(users, items):
            rating, timestamp = original[(user, item)]
            handle.write(f"{user},{item},{rating},{timestamp}\\n")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=HERE / "configs/ml100k-cf.yaml",
                        help="config whose models and protocol the written config.yaml keeps")
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache/graphrec/recbole-venv")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/graphrec/recbole-work")
    args = parser.parse_args()

    sys.path.insert(0, str(HERE.parent))
    from graphrec.data.paths import resolve_data_root

    python, note = ensure_recbole(args.venv)
    if python is None:
        print(f"RecBole is not available: {note}", file=sys.stderr)
        return 1
    args.work.mkdir(parents=True, exist_ok=True)
    args.output.mkdir(parents=True, exist_ok=True)
    atomic_root = write_atomic_files("ml-100k", resolve_data_root(args.data_root), args.work)
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    done = subprocess.run([str(python), "-c", DRIVER, str(atomic_root), "ml-100k", str(args.output.resolve())],
                          env=env, capture_output=True, text=True, cwd=args.work)
    if done.returncode != 0:
        print(f"RecBole failed to split:\n{done.stderr[-2000:]}", file=sys.stderr)
        return 1

    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    config["protocol"]["split_method"] = "files"
    config["protocol"]["unseen_policy"] = "keep"
    config["protocol"]["split_files"] = {
        name: str((args.output / f"{name}.csv").resolve()) for name in ("train", "valid", "test")
    }
    (args.output / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    print(f"RecBole's split and config.yaml written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
