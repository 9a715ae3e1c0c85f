"""On-disk cache of item text embeddings, so a second run does not encode again.

An entry is two files in the cache folder, written atomically:

* ``<key>.npy``: the float32 embeddings ``[n_items, dim]``;
* ``<key>.json``: the metadata (dataset, encoder id, text hash, shape,
  encoding seconds, graphrec version).

The key joins the dataset name, the encoder's ``cache_id`` and the SHA-256
of the texts, so changing one text, the encoder or its settings gives a new
entry. An entry whose files are missing, unreadable or disagree with their
metadata counts as a miss and is written again.

The cache folder is, in order: the ``cache_dir`` argument,
``$GRAPHREC_CACHE/text``, ``$XDG_CACHE_HOME/graphrec/text``, then
``~/.cache/graphrec/text``. Old entries are never deleted. Remove the folder
to clear the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graphrec import __version__
from graphrec.io import atomic_write_bytes, atomic_write_text
from graphrec.text.encoders import TextEncoder

logger = logging.getLogger(__name__)

CACHE_ENV = "GRAPHREC_CACHE"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def text_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Return the cache folder (see the module docstring for the order) without creating it."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env_value = os.environ.get(CACHE_ENV, "")
    if env_value:
        return Path(env_value).expanduser() / "text"
    cache_home = Path(os.environ.get("XDG_CACHE_HOME", "")).expanduser()
    if not cache_home.is_absolute():
        cache_home = Path("~/.cache").expanduser()
    return cache_home / "graphrec" / "text"


def texts_hash(texts: Sequence[str]) -> str:
    """Return the SHA-256 hex digest of the texts as one JSON list, so order and boundaries count."""
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode("utf-8")).hexdigest()


def cache_key(dataset: str, encoder_id: str, text_digest: str) -> str:
    """Return the file stem of an entry: ``<dataset>__<encoder id>__<first 16 hex digits of the hash>``."""
    return f"{_UNSAFE.sub('_', dataset)}__{_UNSAFE.sub('_', encoder_id)}__{text_digest[:16]}"


def encode_cached(
    texts: Sequence[str], encoder: TextEncoder, dataset: str, cache_dir: str | Path | None = None
) -> np.ndarray:
    """Return ``encoder.encode(texts)``, read from the cache when an entry exists.

    On a hit it logs "read N item embeddings from cache PATH" and does not
    call the encoder. On a miss the texts are encoded and the entry is
    written.
    """
    texts = list(texts)
    digest = texts_hash(texts)
    folder = text_cache_dir(cache_dir)
    stem = cache_key(dataset, encoder.cache_id, digest)
    array_path, meta_path = folder / f"{stem}.npy", folder / f"{stem}.json"

    cached = _read_entry(array_path, meta_path, digest, len(texts))
    if cached is not None:
        logger.info("read %d item embeddings from cache %s", len(cached), array_path)
        return cached

    logger.info("encoding %d item texts of %s with %s", len(texts), dataset, encoder.cache_id)
    started = time.perf_counter()
    embeddings = np.ascontiguousarray(encoder.encode(texts), dtype=np.float32)
    seconds = time.perf_counter() - started
    if embeddings.ndim != 2 or embeddings.shape[0] != len(texts):
        raise ValueError(
            f"encoder {encoder.cache_id} returned shape {embeddings.shape} for {len(texts)} texts; "
            "expected one row per text"
        )

    buffer = io.BytesIO()
    np.save(buffer, embeddings, allow_pickle=False)
    atomic_write_bytes(array_path, buffer.getvalue())
    meta = {
        "dataset": dataset,
        "encoder": encoder.cache_id,
        "texts_sha256": digest,
        "n_items": int(embeddings.shape[0]),
        "dim": int(embeddings.shape[1]),
        "encode_seconds": round(seconds, 3),
        "graphrec_version": __version__,
    }
    atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    logger.info("encoded %d item texts in %.1f s; wrote cache %s", len(texts), seconds, array_path)
    return embeddings


def _read_entry(array_path: Path, meta_path: Path, digest: str, n_texts: int) -> np.ndarray | None:
    """Return a valid cached array, or None (logging why when files exist but cannot be used)."""
    if not array_path.is_file() or not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        array = np.load(array_path, allow_pickle=False)
    except (OSError, ValueError) as err:
        logger.warning("ignoring unreadable text cache entry %s: %s", array_path, err)
        return None
    if meta.get("texts_sha256") != digest:
        logger.warning("ignoring text cache entry %s: its metadata names other texts", array_path)
        return None
    expected = (n_texts, meta.get("dim"))
    if array.shape != expected or array.dtype != np.float32:
        logger.warning(
            "ignoring text cache entry %s: it has shape %s and dtype %s, expected %s float32",
            array_path, array.shape, array.dtype, expected,
        )
        return None
    return array
