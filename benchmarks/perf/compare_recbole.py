"""Time graphrec's LightGCN against RecBole's on the same data and preset, in one run.

For each dataset the script trains RecBole 1.2.1's LightGCN and graphrec's
LightGCN with the same settings (embedding 64, layers, learning rate, batch
size, L2 weight, early stopping on validation NDCG@10), one after the other,
each in its own process. It then reports, as ratios to RecBole:

- seconds per training epoch (the training step only);
- wall time until validation NDCG@10 first reaches RecBole's best validation
  NDCG@10 (training plus validation, from the first epoch);
- full-ranking evaluation throughput on the test split (users per second);
- peak resident memory of the process (ru_maxrss);
- test NDCG@10 and Recall@10 of the restored best epoch.

RecBole is installed into its own virtual environment on the first run
(``--venv``), with the packages in RECBOLE_PACKAGES. If that install fails,
the script prints the reason and reports graphrec alone. The preset is RecBole's: every
rating is a positive, per-user random 80/10/10 split, full ranking. Each
framework draws its own split with its own random generator, so the splits are
of the same kind but not identical.

    python benchmarks/perf/compare_recbole.py --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# RecBole 1.2.1 calls scipy's dok_matrix._update, removed in scipy 1.12. torch
# 2.13.0 is the CPU build this machine's package index serves without the CUDA
# libraries. RecBole's ray import needs pkg_resources, which setuptools 70
# removed, while torch 2.13 declares setuptools >= 77; so setuptools is
# downgraded in a second step, which pip accepts with a warning.
RECBOLE_PACKAGES = ["torch==2.13.0", "recbole==1.2.1", "scipy==1.11.4", "numpy<2"]
RECBOLE_SETUPTOOLS = "setuptools<70"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder with ml-100k/ and ml-latest-small/ (default: $GRAPHREC_DATA)")
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "ml-latest-small"])
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache/graphrec/recbole-venv",
                        help="RecBole's virtual environment, created when missing")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/graphrec/recbole-work",
                        help="folder for RecBole's atomic files, checkpoints and raw timings")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks/results/performance.md")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=10, help="epochs without improvement before stopping")
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--reg-weight", type=float, default=1e-5)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads for both")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--reuse", action="store_true",
                        help="reuse timing files already in --work instead of running those drivers again")
    parser.add_argument("--also-tuned", action="store_true",
                        help="also train graphrec's LightGCN with the settings of benchmarks/configs/ml100k.yaml "
                             "(learning rate 0.005, 3 layers, L2 1e-3, patience 30) and time it against the same target")
    return parser.parse_args()


# graphrec's LightGCN settings chosen on ml-100k validation (benchmarks/configs/ml100k.yaml).
TUNED_FLAGS = ["--learning-rate", "0.005", "--layers", "3", "--reg-weight", "0.001", "--patience", "30"]


def ensure_recbole(venv: Path) -> tuple[Path | None, str]:
    """Return RecBole's Python and a note; None and the reason when the install fails."""
    python = venv / "bin" / "python"
    check = [python, "-c", "import recbole.quick_start"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, f"RecBole found in {venv}"
    print(f"installing RecBole into {venv} (a few minutes) ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "pip<25"],
        [str(python), "-m", "pip", "install", "--quiet", *RECBOLE_PACKAGES],
        [str(python), "-m", "pip", "install", "--quiet", RECBOLE_SETUPTOOLS],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            reason = f"`{shlex.join(step)}` failed: {done.stderr.strip()[-500:]}"
            print(f"RecBole skipped: {reason}", file=sys.stderr)
            return None, reason
    return python, f"RecBole installed into {venv} with {' '.join(RECBOLE_PACKAGES)}, then {RECBOLE_SETUPTOOLS}"


def write_atomic_files(name: str, data_root: Path, work: Path) -> Path:
    """Write ``<work>/data/<name>/<name>.inter`` (RecBole's atomic format) from graphrec's loader."""
    from graphrec.data.registry import load_dataset

    folder = work / "data" / name
    path = folder / f"{name}.inter"
    if path.exists():
        return work / "data"
    frame = load_dataset(name, data_root, download=False).interactions
    folder.mkdir(parents=True, exist_ok=True)
    table = frame[["user_id", "item_id", "rating", "timestamp"]]
    header = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    partial = path.with_suffix(".partial")
    partial.write_text(header + table.to_csv(sep="\t", header=False, index=False), encoding="utf-8")
    partial.replace(path)
    return work / "data"


def shared_flags(args: argparse.Namespace) -> list[str]:
    return [
        "--epochs", str(args.epochs), "--patience", str(args.patience), "--learning-rate", str(args.learning_rate),
        "--layers", str(args.layers), "--reg-weight", str(args.reg_weight), "--batch-size", str(args.batch_size),
        "--threads", str(args.threads), "--seed", str(args.seed),
    ]


def run_driver(command: list[str], env: dict[str, str], out: Path, reuse: bool = False) -> dict:
    """Run one driver in the folder of its output file, where RecBole also writes its log folders."""
    if reuse and out.exists():
        print(f"reusing {out}", flush=True)
        return json.loads(out.read_text(encoding="utf-8"))
    print("running", shlex.join(command), flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, text=True, capture_output=True, cwd=out.parent)
    if done.returncode != 0:
        raise SystemExit(f"{command[1]} failed with exit code {done.returncode}:\n{done.stderr[-3000:]}")
    record = json.loads(out.read_text(encoding="utf-8"))
    record["process_seconds"] = time.perf_counter() - started
    return record


def time_to_target(record: dict, target: float) -> float | None:
    """Return the elapsed seconds at the first epoch whose validation NDCG@10 reaches ``target``."""
    for epoch in record["history"]:
        # RecBole rounds its reported best value to 4 decimals, so compare with a small tolerance.
        if epoch.get("valid_ndcg@10", float("-inf")) >= target - 1e-9:
            return epoch["elapsed_seconds"]
    return None


def machine() -> str:
    memory = "unknown"
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            memory = f"{int(handle.readline().split()[1]) / 1024**2:.1f} GiB"
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {memory} memory"


def summarise(name: str, graphrec: dict, recbole: dict | None) -> list[str]:
    def per_epoch(record: dict) -> float:
        return sum(h["train_seconds"] for h in record["history"]) / len(record["history"])

    def throughput(record: dict) -> float:
        return record["eval_users"] / record["eval_seconds"]

    rows = [
        ("epochs run", lambda r: f"{len(r['history'])}", None),
        ("seconds per training epoch", lambda r: f"{per_epoch(r):.2f}", lambda g, b: per_epoch(g) / per_epoch(b)),
        ("evaluation throughput (users/s)", lambda r: f"{throughput(r):.0f}", lambda g, b: throughput(g) / throughput(b)),
        ("peak resident memory (MB)", lambda r: f"{r['peak_rss_mb']:.0f}", lambda g, b: g["peak_rss_mb"] / b["peak_rss_mb"]),
        ("best valid NDCG@10", lambda r: f"{r['best_valid_ndcg@10']:.4f}", None),
        ("test NDCG@10", lambda r: f"{r['test']['ndcg@10']:.4f}", lambda g, b: g["test"]["ndcg@10"] / b["test"]["ndcg@10"]),
        ("test Recall@10", lambda r: f"{r['test']['recall@10']:.4f}", None),
    ]
    lines = [f"### {name}", ""]
    if recbole is None:
        lines += ["| measure | graphrec |", "|---|---:|"]
        lines += [f"| {label} | {show(graphrec)} |" for label, show, _ in rows]
        return lines + [""]

    target = recbole["best_valid_ndcg@10"]
    mine, theirs = time_to_target(graphrec, target), time_to_target(recbole, target)
    lines += ["| measure | graphrec | RecBole | graphrec / RecBole |", "|---|---:|---:|---:|"]
    for label, show, ratio in rows:
        cell = f"{ratio(graphrec, recbole):.2f}" if ratio else ""
        lines.append(f"| {label} | {show(graphrec)} | {show(recbole)} | {cell} |")
    reached = f"{mine:.1f}" if mine is not None else "not reached"
    ratio = f"{mine / theirs:.2f}" if mine is not None and theirs else ""
    lines.append(f"| seconds to valid NDCG@10 >= {target:.4f} (RecBole's best) | {reached} | {theirs:.1f} | {ratio} |")
    return lines + [""]


def main() -> int:
    args = parse_args()
    sys.path.insert(0, str(REPO))
    from graphrec.data.paths import resolve_data_root

    data_root = resolve_data_root(args.data_root)
    args.work.mkdir(parents=True, exist_ok=True)
    recbole_python, install_note = ensure_recbole(args.venv)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}

    results = {}
    for name in args.datasets:
        recbole = None
        if recbole_python is not None:
            out = args.work / f"recbole-{name}.json"
            atomic_root = write_atomic_files(name, data_root, args.work)
            recbole = run_driver(
                [str(recbole_python), str(HERE / "recbole_driver.py"), "--data-path", str(atomic_root), "--dataset", name,
                 "--out", str(out), "--checkpoint-dir", str(args.work / "saved"), *shared_flags(args)], env, out,
                args.reuse)
        driver = [sys.executable, str(HERE / "graphrec_driver.py"), "--dataset", name, "--data-root", str(data_root)]
        out = args.work / f"graphrec-{name}.json"
        graphrec = run_driver([*driver, "--out", str(out), *shared_flags(args)], env, out, args.reuse)
        tuned = None
        if args.also_tuned:
            out = args.work / f"graphrec-tuned-{name}.json"
            tuned = run_driver([*driver, "--out", str(out), *shared_flags(args), *TUNED_FLAGS], env, out, args.reuse)
        results[name] = {"graphrec": graphrec, "recbole": recbole, "graphrec_tuned": tuned}

    command = "python benchmarks/perf/compare_recbole.py " + shlex.join(sys.argv[1:])
    lines = [
        "# Training and evaluation speed: graphrec against RecBole",
        "",
        f"Command: `{command}`, run on {time.strftime('%Y-%m-%d')}.",
        "",
        f"Machine: {machine()}. Both frameworks ran on the CPU with {args.threads} torch threads, "
        "one after the other.",
        "",
        f"Settings shared by both: LightGCN, embedding 64, {args.layers} layers, learning rate {args.learning_rate}, "
        f"batch size {args.batch_size}, L2 weight {args.reg_weight}, at most {args.epochs} epochs, early stopping "
        f"after {args.patience} epochs without a better validation NDCG@10, seed {args.seed}. {install_note}.",
        "",
        "Ratios are graphrec / RecBole: below 1 is faster or smaller for times and memory, above 1 is faster for "
        "throughput and better for NDCG. Raw timings per epoch are in the JSON file next to this page.",
        "",
    ]
    for name, pair in results.items():
        lines += summarise(name, pair["graphrec"], pair["recbole"])
        if pair["graphrec_tuned"] is not None:
            lines += [f"graphrec with its ml-100k settings ({' '.join(TUNED_FLAGS)}), against the same RecBole run:", ""]
            lines += summarise(f"{name}, graphrec tuned", pair["graphrec_tuned"], pair["recbole"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_suffix(".partial")
    partial.write_text("\n".join(lines), encoding="utf-8")
    partial.replace(args.output)
    raw = args.output.with_suffix(".json")
    raw.with_suffix(".partial").write_text(json.dumps(results, indent=2), encoding="utf-8")
    raw.with_suffix(".partial").replace(raw)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
