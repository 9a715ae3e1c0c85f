"""One simulated machine of the distributed example: its graph server and its trainer.

``python worker.py machine --id M --workdir DIR`` starts, as child processes,
the DGL server of partition M and trainer M, and waits for both. They get
the DGL_* environment variables that DGL's ``tools/launch.py`` sets over ssh,
and the torch.distributed ones that its torch launcher sets. run.py starts one such process per
partition, each inside its own mount namespace (``unshare --mount``) with a
private ``/dev/shm``.

Why the namespace: a DGL 2.1 server shares its partition with the trainers of
its machine through POSIX shared memory whose names depend only on the graph
and tensor names (for example ``node:_N:degree-kvdata-``). Two servers on one
host would write into the same segments, so each simulated machine needs its
own ``/dev/shm``. On a real cluster every machine has its own, and neither
the namespace nor the machine id override below is needed.

``python worker.py role`` runs the process that DGL_ROLE names
(``server`` or ``client``). The machine process starts it that way, and so
can DGL's launch.py on a real cluster (see docs/scaling.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Size of the private /dev/shm of one simulated machine.
SHM_SIZE = "1g"


def machine_environment(workdir: Path, machine_id: int, role: str) -> dict[str, str]:
    """Return the environment of one server or trainer process, as DGL's launch tool would set it."""
    layout = json.loads((workdir / "layout.json").read_text(encoding="utf-8"))
    env = dict(os.environ)
    env.update(
        {
            "DGL_ROLE": role,
            "DGL_DIST_MODE": "distributed",
            "DGL_IP_CONFIG": str(workdir / "ip_config.txt"),
            "DGL_CONF_PATH": str(workdir / "partitions" / f"{layout['graph_name']}.json"),
            "DGL_NUM_SERVER": "1",
            "DGL_NUM_CLIENT": str(layout["n_trainers"]),
            "DGL_NUM_SAMPLER": "0",
            "DGL_GRAPH_FORMAT": "csc",
            "OMP_NUM_THREADS": "1",
            "GRAPHREC_EXAMPLE_WORKDIR": str(workdir),
            "GRAPHREC_EXAMPLE_MACHINE": str(machine_id),
        }
    )
    if role == "server":
        # One server per machine, so the server id is the machine id.
        env["DGL_SERVER_ID"] = str(machine_id)
    else:
        # torch.distributed's env:// rendezvous, as torchrun sets it; one trainer per machine.
        env.update(
            {
                "DGL_GROUP_ID": "0",
                "RANK": str(machine_id),
                "WORLD_SIZE": str(layout["n_trainers"]),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(layout["master_port"]),
            }
        )
    return env


def run_machine(machine_id: int, workdir: Path, timeout: float) -> int:
    """Mount a private /dev/shm, start the server and the trainer of ``machine_id``, and wait for both."""
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SHM_SIZE}", "graphrec-shm", "/dev/shm"],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        print(f"machine {machine_id}: mounting a private /dev/shm failed: {mount.stderr.strip()}", file=sys.stderr)
        return 3

    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    deadline = time.monotonic() + timeout
    processes = {}
    for role in ("server", "client"):
        log = open(logs / f"{role}-{machine_id}.log", "w", encoding="utf-8")
        processes[role] = subprocess.Popen(
            [sys.executable, str(HERE / "worker.py"), "role"],
            env=machine_environment(workdir, machine_id, role),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if role == "server":
            # The server listens before any trainer connects; DGL's trainers retry meanwhile.
            time.sleep(1.0)

    codes = {}
    for role in ("client", "server"):
        try:
            codes[role] = processes[role].wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"machine {machine_id}: the {role} process timed out after {timeout:.0f} s", file=sys.stderr)
            for process in processes.values():
                if process.poll() is None:
                    process.kill()
                    process.wait()
            return 4
    if codes["client"] != 0:
        return codes["client"]
    return codes["server"]


def run_role() -> int:
    """Run the server or the trainer that DGL_ROLE names."""
    if os.environ["DGL_ROLE"] == "server":
        import dgl

        # In the server role, initialize serves the partition and exits the process when trainer 0 shuts it down.
        dgl.distributed.initialize(os.environ["DGL_IP_CONFIG"])
        return 0

    from trainer import run_trainer

    return run_trainer()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    machine = commands.add_parser("machine", help="start the server and the trainer of one machine")
    machine.add_argument("--id", type=int, required=True, help="machine id, which is also the partition id")
    machine.add_argument("--workdir", type=Path, required=True, help="folder that run.py prepared")
    machine.add_argument("--timeout", type=float, default=600.0, help="seconds before both processes are killed")
    role = commands.add_parser("role", help="run the process that DGL_ROLE names")
    role.add_argument(
        "--workdir", type=Path, default=None,
        help="folder with settings.json and orig_nid.pt (default: $GRAPHREC_EXAMPLE_WORKDIR)",
    )
    args = parser.parse_args()
    if args.command == "machine":
        return run_machine(args.id, args.workdir, args.timeout)
    if args.workdir is not None:
        os.environ["GRAPHREC_EXAMPLE_WORKDIR"] = str(args.workdir.resolve())
    return run_role()


if __name__ == "__main__":
    sys.exit(main())
