"""Item text embeddings of a dataset, and the derived user profiles and initial embeddings models use."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphrec.data.dataset import RecDataset
from graphrec.text.builder import dataset_item_texts
from graphrec.text.cache import encode_cached
from graphrec.text.encoders import DEFAULT_ENCODER, make_encoder


def item_text_embeddings(
    dataset: RecDataset,
    text_encoder: str = DEFAULT_ENCODER,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Return float32 ``[n_items, dim]`` embeddings of the dataset's item texts (row ``i`` = item index ``i``).

    ``text_encoder`` is read by :func:`graphrec.text.encoders.make_encoder`.
    The result comes from the cache when an entry exists.
    """
    texts = dataset_item_texts(dataset)
    encoder = make_encoder(text_encoder, progress=progress)
    return encode_cached(texts, encoder, dataset.name, cache_dir)


def user_mean_embeddings(dataset: RecDataset, item_vectors: np.ndarray) -> np.ndarray:
    """Return ``[n_users, dim]``: each user's mean over the vectors of their training items.

    A user without training interactions gets a zero row.
    """
    train = dataset.train_matrix
    counts = np.asarray(train.sum(axis=1)).ravel()
    sums = np.asarray(train @ item_vectors, dtype=np.float64)
    means = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)
    return means.astype(np.float32)


def principal_components(features: np.ndarray, dim: int) -> np.ndarray:
    """Project the centred rows onto their top ``dim`` principal components.

    Returns ``[n, k]`` with ``k = min(dim, rank)``. Each component's sign is
    fixed so that its largest-magnitude loading is positive, so the result
    does not depend on the sign convention of the LAPACK build.
    """
    centred = np.asarray(features, dtype=np.float64) - np.mean(features, axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    if singular.size == 0 or singular[0] == 0:
        return np.zeros((len(features), 0))
    rank = int((singular > 1e-6 * singular[0]).sum())
    components = components[: min(dim, rank)]
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    return centred @ (components * signs[:, None]).T


def text_initial_embeddings(
    dataset: RecDataset, text_encoder: str, dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return layer-0 user and item embeddings that start from item text.

    Items get the top ``k <= dim`` principal components of their text
    embeddings. Users get the mean of their training items' rows. Both are
    rescaled so that their entries have the standard deviation of
    ``torch.nn.init.xavier_normal_`` on an ``[n, dim]`` table,
    ``sqrt(2 / (n + dim))``, the scale the models' random initialisation uses.

    Returns ``(user_init [n_users, k], user_has_items [n_users] bool,
    item_init [n_items, k])``, float32. Rows of users without training items
    are zero and ``user_has_items`` is False for them, so that the caller
    keeps their random initialisation. The caller also keeps random values in columns
    ``k..dim-1``: columns that start at zero for every node would get no
    gradient from an inner-product loss.
    """
    features = item_text_embeddings(dataset, text_encoder)
    items = principal_components(features, dim)
    users = user_mean_embeddings(dataset, items).astype(np.float64)
    has_items = np.asarray(dataset.train_matrix.sum(axis=1)).ravel() > 0

    items = _rescale(items, np.sqrt(2.0 / (dataset.n_items + dim)))
    users[has_items] = _rescale(users[has_items], np.sqrt(2.0 / (dataset.n_users + dim)))
    return users.astype(np.float32), has_items, items.astype(np.float32)


def _rescale(matrix: np.ndarray, std: float) -> np.ndarray:
    current = matrix.std() if matrix.size else 0.0
    return matrix * (std / current) if current > 0 else matrix
