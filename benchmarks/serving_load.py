"""Load benchmark of ``graphrec serve``: latency percentiles and throughput of /recommend.

The script starts ``graphrec serve RUN_DIR`` (uvicorn, one worker) on a free
127.0.0.1 port, waits until ``/health`` responds, warms up, and then keeps
``--concurrency`` requests in flight for ``--duration`` seconds. Each
request is ``GET /recommend?user=U&scenario=S&k=K``, cycling over the first
1000 users the service lists and over every scenario. It reports p50, p95
and p99 latency, throughput, errors and the server's CPU time per request,
and writes them with the machine and the command to a Markdown page.

The load comes from ``wrk`` (Debian's package) when it is installed, which
costs the shared CPU far less than a Python client, else from an asyncio
``httpx`` client. Nothing leaves the loopback interface.

    python benchmarks/serving_load.py RUN_DIR --model lightgcn \\
        --output benchmarks/results/serving.md
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx
import numpy as np

from graphrec.io import atomic_write_text

#: Latency target at 50 concurrent requests for k=10 on a 2-core machine.
TARGET_P99_MS = 20.0
#: Users the request mix cycles over.
MAX_USERS = 1000
STARTUP_TIMEOUT_S = 300.0

#: A bare ASGI app under the same uvicorn that returns one fixed body for every path, to measure the HTTP layer alone.
BASELINE_SERVER = """
import sys
import uvicorn

body = open(sys.argv[2], "rb").read()


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

WRK_SCRIPT = """
local paths = {%(paths)s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("RESULT %%d %%.6f %%d %%.3f %%.3f %%.3f\\n", summary.requests, summary.duration / 1e6,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


@dataclass
class LoadResult:
    """Outcome of one load run; latencies in milliseconds."""

    client: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    server_cpu_s: float | None = None
    #: Average number of cores that processes other than the server and the client kept busy.
    other_cores: float | None = None

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.server_cpu_s is None or self.requests == 0:
            return None
        return self.server_cpu_s / self.requests * 1e6


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="run folder written by graphrec benchmark")
    parser.add_argument("--model", default=None, help="model label to serve (default: the service's choice)")
    parser.add_argument("--data-root", type=Path, default=None, help="data root passed to graphrec serve")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at once (default: 50)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of measured load (default: 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of unmeasured load first (default: 5)")
    parser.add_argument("--k", type=int, default=10, help="items per recommendation (default: 10)")
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto",
                        help="load generator (default: wrk when installed, else httpx)")
    parser.add_argument("--output", type=Path, default=None, help="Markdown page to write (default: print only)")
    parser.add_argument("--note", default="", help="sentence added to the page, for example about other load")
    parser.add_argument("--baseline", action="store_true",
                        help="also measure a bare ASGI app under the same uvicorn, to separate the HTTP layer's cost")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.duration <= 0 or args.warmup < 0 or args.k < 1:
        parser.error("--concurrency and --k must be at least 1, --duration positive and --warmup not negative")
    return args


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_command(args: argparse.Namespace, port: int) -> list[str]:
    command = [sys.executable, "-m", "graphrec.cli", "serve", str(args.run_dir), "--port", str(port)]
    if args.model:
        command += ["--model", args.model]
    if args.data_root:
        command += ["--data-root", str(args.data_root)]
    return command


def start_server(command: list[str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "w", encoding="utf-8") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def wait_until_ready(base: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"graphrec serve exited with code {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=2.0, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"graphrec serve did not respond to /health within {STARTUP_TIMEOUT_S:.0f} s; see {log_path}")


def request_paths(base: str, k: int) -> tuple[list[str], dict]:
    meta = httpx.get(f"{base}/meta", timeout=10.0, trust_env=False).json()
    users = meta["users"][:MAX_USERS]
    scenarios = meta["scenarios"]
    paths = [
        str(httpx.URL("/recommend", params={"user": user, "scenario": scenarios[i % len(scenarios)], "k": k}))
        for i, user in enumerate(users)
    ]
    return paths, meta


def server_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process, from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float | None:
    """CPU time all cores spent outside idle since boot, from /proc/stat (Linux); None elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def client_cpu_seconds() -> float:
    """CPU time of this process and its finished children (wrk)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_wrk(base: str, paths: list[str], concurrency: int, duration: float, workdir: Path) -> LoadResult:
    script = workdir / "recommend.lua"
    script.write_text(WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths)}, encoding="utf-8")
    command = ["wrk", "-t", "1", "-c", str(concurrency), "-d", f"{max(int(round(duration)), 1)}s",
               "--timeout", "10s", "-s", str(script), base]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next((row for row in output.splitlines() if row.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result line:\n{output}")
    requests, seconds, errors, p50, p95, p99 = line.split()[1:]
    return LoadResult("wrk", int(requests), float(seconds), int(errors), float(p50), float(p95), float(p99))


async def _drive_httpx(base: str, paths: list[str], concurrency: int, duration: float) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0, trust_env=False) as client:
        started = time.perf_counter()
        deadline = started + duration

        async def worker(offset: int) -> None:
            nonlocal errors
            position = offset
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    response = await client.get(paths[position % len(paths)])
                    errors += response.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - sent)
                position += concurrency

        await asyncio.gather(*(worker(offset) for offset in range(concurrency)))
        seconds = time.perf_counter() - started
    p50, p95, p99 = np.percentile(np.array(latencies) * 1000.0, [50, 95, 99])
    return LoadResult("httpx", len(latencies), seconds, errors, float(p50), float(p95), float(p99))


def run_load(client: str, base: str, paths: list[str], concurrency: int, duration: float, workdir: Path) -> LoadResult:
    if client == "wrk":
        return run_wrk(base, paths, concurrency, duration, workdir)
    return asyncio.run(_drive_httpx(base, paths, concurrency, duration))


def machine_facts() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        names = [row.split(":", 1)[1].strip() for row in Path("/proc/cpuinfo").read_text().splitlines()
                 if row.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    http = "httptools" if importlib.util.find_spec("httptools") else "h11 (pure Python)"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return {
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "os": platform.platform(),
        "python": platform.python_version(),
        "server": f"uvicorn {metadata.version('uvicorn')}, 1 worker, {http} HTTP parser, {loop} event loop",
    }


def wrk_version() -> str:
    result = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    words = (result.stdout or result.stderr).split()
    return " ".join(words[:2]) if words else "wrk"


def markdown(
    args, result: LoadResult, baseline: LoadResult | None, meta: dict, facts: dict, load_before: str, command: str
) -> str:
    client = f"{wrk_version()}, 1 thread" if result.client == "wrk" else f"httpx {httpx.__version__} (asyncio)"
    verdict = "met" if result.p99_ms <= TARGET_P99_MS and result.errors == 0 else "not met"
    cpu = result.cpu_us_per_request
    rows = [
        ("served model", f"{meta['model']} (seed {meta['seed']}) on {meta['dataset']}: "
                         f"{meta['n_users']} users, {meta['n_items']} items, {len(meta['scenarios'])} scenarios"),
        ("request", f"GET /recommend?user=U&scenario=S&k={args.k}, cycling over "
                    f"{min(len(meta['users']), MAX_USERS)} users and every scenario"),
        ("load", f"{args.concurrency} concurrent requests for {result.seconds:.1f} s after {args.warmup:.0f} s warm-up"),
        ("client", client),
        ("server", facts["server"]),
        ("machine", f"{facts['cpu']}; {facts['os']}; Python {facts['python']}"),
        ("load average (1, 5, 15 min) before the measured load", load_before),
        ("cores kept busy by other processes during the measured load",
         "not measured" if result.other_cores is None else f"{result.other_cores:.2f}"),
        ("requests", f"{result.requests} ({result.errors} errors)"),
        ("latency p50 / p95 / p99", f"{result.p50_ms:.2f} / {result.p95_ms:.2f} / {result.p99_ms:.2f} ms"),
        ("throughput", f"{result.throughput:.0f} requests/s"),
        ("server CPU time per request", "not measured" if cpu is None else f"{cpu:.0f} us"),
        ("estimated mean latency with one idle core for the server",
         "not measured" if cpu is None else
         f"{args.concurrency * cpu / 1000:.1f} ms ({args.concurrency} requests x {cpu:.0f} us, by Little's law)"),
    ]
    if baseline is not None:
        base_cpu = baseline.cpu_us_per_request
        rows.append((
            "same load on a bare ASGI app (HTTP layer only)",
            f"p50 / p95 / p99 {baseline.p50_ms:.2f} / {baseline.p95_ms:.2f} / {baseline.p99_ms:.2f} ms, "
            f"{baseline.throughput:.0f} requests/s, "
            + ("CPU not measured" if base_cpu is None else f"{base_cpu:.0f} us server CPU per request"),
        ))
    lines = [
        "# Serving load benchmark",
        "",
        "Latency of `graphrec serve` under a closed loop of concurrent `/recommend` requests over loopback,",
        f"measured by `benchmarks/serving_load.py`. Target: p99 at most {TARGET_P99_MS:.0f} ms at 50 concurrent requests",
        f"for k = 10 on a 2-core machine. This run: **target {verdict}** (p99 {result.p99_ms:.2f} ms).",
        "",
        "```bash",
        command,
        "```",
        "",
        "| | |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
    ]
    if args.note:
        lines += [args.note, ""]
    return "\n".join(lines)


def _without_note(argv: list[str]) -> list[str]:
    """Return the command-line arguments without ``--note TEXT``, which is prose for the page and not a setting."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--note":
            skip = True
        elif not arg.startswith("--note="):
            kept.append(arg)
    return kept


def measure(server: subprocess.Popen, client: str, base: str, paths: list[str], args, workdir: Path) -> tuple[LoadResult, str]:
    """Warm up, then run the measured load; return the result and the load average before it."""
    if args.warmup > 0:
        run_load(client, base, paths, args.concurrency, args.warmup, workdir)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    before = (server_cpu_seconds(server.pid), client_cpu_seconds(), busy_cpu_seconds())
    result = run_load(client, base, paths, args.concurrency, args.duration, workdir)
    after = (server_cpu_seconds(server.pid), client_cpu_seconds(), busy_cpu_seconds())
    if None not in before and None not in after:
        server_cpu, client_cpu, busy = (b - a for a, b in zip(before, after))
        result.server_cpu_s = server_cpu
        result.other_cores = max(busy - server_cpu - client_cpu, 0.0) / result.seconds
    return result, load_before


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "httpx"
    elif client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--client wrk: wrk is not installed (Debian package 'wrk')")

    baseline = None
    with tempfile.TemporaryDirectory(prefix="graphrec-serving-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(serve_command(args, port), workdir / "server.log")
        try:
            wait_until_ready(base, server, workdir / "server.log")
            paths, meta = request_paths(base, args.k)
            sample = httpx.get(base + paths[0], timeout=10.0, trust_env=False).content
            result, load_before = measure(server, client, base, paths, args, workdir)
        finally:
            stop_server(server)

        if args.baseline:
            (workdir / "body.json").write_bytes(sample)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            command = [sys.executable, "-c", BASELINE_SERVER, str(port), str(workdir / "body.json")]
            server = start_server(command, workdir / "baseline.log")
            try:
                wait_until_ready(base, server, workdir / "baseline.log")
                baseline, _ = measure(server, client, base, paths, args, workdir)
            finally:
                stop_server(server)

    command = "python benchmarks/serving_load.py " + shlex.join(_without_note(argv if argv is not None else sys.argv[1:]))
    page = markdown(args, result, baseline, meta, machine_facts(), load_before, command)
    print(page)
    if args.output is not None:
        atomic_write_text(args.output, page)
        print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
