"""Run provenance: the facts a run folder records so that the run can be checked and repeated."""

from __future__ import annotations

import hashlib
import platform
import secrets
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

VERSIONED_PACKAGES = ("graphrec", "torch", "dgl", "numpy", "scipy", "pandas")


def new_run_id(stem: str) -> str:
    """Return ``<stem>-<date>-<time>-<6 hex digits>``, unique even for runs started in the same second."""
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_commit() -> str | None:
    """Return the commit of the graphrec checkout, or None outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(run_id: str, config_path: Path, data_root: Path, seeds: list[int], source_files: list[Path]) -> dict:
    """Collect the facts ``run.json`` stores: code, environment, seeds and input checksums."""
    return {
        "run_id": run_id,
        "config": str(config_path),
        "data_root": str(data_root),
        "data_files": {str(path): file_sha256(Path(path)) for path in source_files},
        "seeds": seeds,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv,
        "determinism": (
            "every random source is seeded; on the CPU, two runs of the same config and seed write "
            "identical metrics.csv (checked by tests/test_reproducibility.py); GPU runs are not checked"
        ),
    }
