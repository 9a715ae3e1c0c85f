"""End-to-end run of examples/distributed/run.py at a tiny size: two servers, two trainers, one check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN_SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "distributed" / "run.py"
# The example kills its own children after this many seconds; the test waits longer for it to clean up.
EXAMPLE_TIMEOUT_S = 240
TEST_TIMEOUT_S = EXAMPLE_TIMEOUT_S + 120
EXIT_UNSUPPORTED = 2


def test_two_trainers_match_single_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    command = [
        sys.executable, str(RUN_SCRIPT), "--workdir", str(tmp_path),
        "--n-users", "300", "--n-items", "200", "--n-interactions", "6000", "--epochs", "20",
        "--timeout", str(EXAMPLE_TIMEOUT_S),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        stdout, stderr = process.communicate(timeout=TEST_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # SIGTERM lets run.py kill the server and trainer processes it started; SIGKILL would orphan them.
        process.terminate()
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(f"the example did not finish within {TEST_TIMEOUT_S} s:\n{stdout[-3000:]}{stderr[-3000:]}")
    if process.returncode == EXIT_UNSUPPORTED:
        pytest.skip(f"the example cannot simulate two machines here: {stderr.strip()}")
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]

    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert result["passed"]
    for metric, single in result["single_process"].items():
        distributed = result["distributed"][metric]
        assert abs(distributed - single) <= result["tolerance"], metric
        assert distributed >= result["untrained"][metric] + result["min_gain"], metric

    # Both trainers trained: each wrote its per-epoch losses, and each loss fell.
    for rank in (0, 1):
        losses = json.loads((tmp_path / f"losses-{rank}.json").read_text(encoding="utf-8"))
        assert len(losses) == 20
        assert losses[-1] < losses[0]
    assert (tmp_path / "ip_config.txt").read_text(encoding="utf-8").count("127.0.0.1") == 2
