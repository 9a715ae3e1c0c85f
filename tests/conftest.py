"""Shared fixtures: the real-data switch and a small synthetic dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def real_data_root(dataset: str) -> Path:
    """Return GRAPHREC_DATA if it contains ``dataset``, else skip (or fail in CI).

    With GRAPHREC_REQUIRE_DATA=1 a missing dataset is a test failure, so CI
    cannot pass by skipping the real-data tests.
    """
    root = os.environ.get("GRAPHREC_DATA")
    if root and (Path(root) / dataset).is_dir():
        return Path(root)
    reason = f"real {dataset} data not found: set GRAPHREC_DATA to a folder that contains {dataset}/"
    if os.environ.get("GRAPHREC_REQUIRE_DATA") == "1":
        pytest.fail(reason)
    pytest.skip(reason)
