"""Training checkpoints: atomic writes and safe, checked loading.

A checkpoint is a dict of tensors and plain Python values saved with
``torch.save`` and read back with ``torch.load(weights_only=True)``, which
refuses arbitrary pickled objects. Each checkpoint records which model and
dataset it belongs to, and loading rejects a mismatch.
"""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.errors import GraphrecError
from graphrec.io import atomic_write_bytes

FORMAT_VERSION = 1


class CheckpointError(GraphrecError):
    """A checkpoint that cannot be used for the requested run."""


def dataset_fingerprint(dataset: RecDataset) -> dict[str, Any]:
    """Describe a split dataset precisely enough to tell two apart."""
    digest = hashlib.sha256()
    for array in (dataset.users, dataset.items, dataset.scenarios, dataset.splits):
        digest.update(np.ascontiguousarray(array).tobytes())
    return {
        "name": dataset.name,
        "scenario_spec": dataset.scenario_spec,
        "n_users": dataset.n_users,
        "n_items": dataset.n_items,
        "n_scenarios": dataset.n_scenarios,
        "split_sha256": digest.hexdigest(),
    }


def random_states(rng: np.random.Generator) -> dict[str, Any]:
    """Capture the state of every random source training uses."""
    return {
        "numpy_generator": rng.bit_generator.state,
        "numpy_global": _numpy_global_state(),
        "python": _python_state(),
        "torch": torch.get_rng_state(),
    }


def restore_random_states(states: dict[str, Any], rng: np.random.Generator) -> None:
    rng.bit_generator.state = states["numpy_generator"]
    kind, keys, pos, has_gauss, gauss = states["numpy_global"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    torch.set_rng_state(states["torch"])


def _numpy_global_state() -> list:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)]


def _python_state() -> list:
    version, internal, gauss_next = random.getstate()
    return [version, list(internal), gauss_next]


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file, then rename)."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT_VERSION, **payload}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, model_name: str, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Read a checkpoint and check that it belongs to ``model_name`` on this dataset."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from None

    if payload.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format {payload.get('format')!r}, expected {FORMAT_VERSION}"
        )
    if payload.get("model") != model_name:
        raise CheckpointError(
            f"checkpoint {path} was written by model {payload.get('model')!r}, not {model_name!r}; "
            "resume with the config that produced it"
        )
    saved = payload.get("dataset", {})
    changed = sorted(key for key in fingerprint if saved.get(key) != fingerprint[key])
    if changed:
        details = ", ".join(f"{key}: {saved.get(key)!r} in the checkpoint, {fingerprint[key]!r} now" for key in changed)
        raise CheckpointError(
            f"checkpoint {path} belongs to another dataset or split ({details}); "
            "resume with the same data, scenario spec and split seed"
        )
    return payload
