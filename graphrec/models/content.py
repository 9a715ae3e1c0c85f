"""Content-based baseline: TF-IDF item vectors from genres and tags, matched to user profiles by cosine.

Each item is a document whose terms are its genres and, where the item table
has a ``tags`` column (the CSV MovieLens releases such as ml-latest-small),
its tags. The item vectors are the L2-normalised TF-IDF rows of these
documents (Salton and Buckley, "Term-weighting approaches in automatic text
retrieval", Information Processing & Management 24(5), 1988). A user's
profile is the mean of the vectors of the user's training items, as in the
content-based recommenders surveyed by Pazzani and Billsus ("Content-based
recommendation systems", The Adaptive Web, LNCS 4321, 2007).

NOTE: MovieLens tags come from all users at any time, so an item's vector can
carry tags written by users who have that item in their validation or test
split. The user profiles read training interactions only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import ClassVar

import dgl
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from graphrec.data.dataset import RecDataset
from graphrec.errors import DataError
from graphrec.models.base import Recommender
from graphrec.models.registry import register_model

logger = logging.getLogger(__name__)

# Column of the item table that contains a tuple of tags per item, when the loader provides one.
TAGS_COLUMN = "tags"


def _labels(value: object) -> list[str]:
    """Return the labels of one item-table cell: a tuple or list of strings, or missing."""
    if isinstance(value, (tuple, list, set, frozenset)):
        return [str(label) for label in value]
    return []


def item_terms(item_table: pd.DataFrame) -> list[list[str]]:
    """Return the terms of every item: ``genre=<genre>`` per genre and ``tag=<tag>`` per distinct tag.

    Each genre and each tag is one term, so a multi-word tag such as "based on
    a book" stays whole. Tags are lower-cased with runs of white space reduced
    to one space, and each distinct tag counts once per item. The prefixes keep
    a genre apart from a tag with the same text.
    """
    genres = item_table["genres"] if "genres" in item_table else pd.Series([()] * len(item_table))
    tags = item_table[TAGS_COLUMN] if TAGS_COLUMN in item_table else pd.Series([()] * len(item_table))

    documents = []
    for item_genres, item_tags in zip(genres.tolist(), tags.tolist()):
        terms = [f"genre={genre}" for genre in dict.fromkeys(_labels(item_genres))]
        normalised_tags = dict.fromkeys(" ".join(tag.lower().split()) for tag in _labels(item_tags))
        terms += [f"tag={tag}" for tag in normalised_tags if tag]
        documents.append(terms)
    return documents


def _identity(terms: Iterable[str]) -> Iterable[str]:
    return terms


def tfidf_item_vectors(item_table: pd.DataFrame, dataset_name: str) -> sp.csr_matrix:
    """Return the L2-normalised TF-IDF vectors ``[n_items, n_terms]`` of the items' genres and tags.

    TfidfVectorizer's defaults apply: raw term counts times the smoothed
    ``idf(t) = ln((1 + n_items) / (1 + df(t))) + 1``. An item without terms
    gets a zero row. Raises DataError when no item has any term.
    """
    documents = item_terms(item_table)
    if not any(documents):
        raise DataError(
            f"tfidf-content needs genres or tags in the item table, but no item of {dataset_name} has either. "
            "Use a dataset whose loader reads item genres (for example ml-100k or ml-latest-small)."
        )
    vectorizer = TfidfVectorizer(analyzer=_identity, lowercase=False)
    vectors = vectorizer.fit_transform(documents).tocsr().astype(np.float32)
    n_tags = sum(term.startswith("tag=") for term in vectorizer.vocabulary_)
    n_terms = len(vectorizer.vocabulary_)
    n_empty = sum(not terms for terms in documents)
    logger.info(
        "tfidf-content: %d terms (%d genres, %d tags), %d of %d items without terms",
        n_terms, n_terms - n_tags, n_tags, n_empty, len(documents),
    )
    return vectors


@register_model("tfidf-content")
class TfidfContent(Recommender):
    """Content-based recommender: cosine between a TF-IDF user profile and each item's TF-IDF vector.

    With ``t_i`` the L2-normalised TF-IDF vector of item ``i`` and ``I_u`` the
    training items of user ``u``, the profile and score are

        p_u = (1 / |I_u|) sum_{j in I_u} t_j,    score(u, i) = <p_u, t_i> / (||p_u|| ||t_i||)

    The mean is unweighted because the training interaction matrix is binary,
    and scaling ``p_u`` does not change the cosine. Users without training
    items, and items without genres or tags, score 0.
    """

    trainable: ClassVar[bool] = False

    def __init__(self, dataset: RecDataset, graph: dgl.DGLGraph):
        super().__init__(dataset, graph)
        self.profiles: sp.csr_matrix | None = None
        self.item_vectors_t: sp.csr_matrix | None = None

    def fit(self, dataset: RecDataset) -> None:
        item_vectors = tfidf_item_vectors(dataset.item_table, dataset.name)

        history = dataset.train_matrix.astype(np.float32).tocsr()
        counts = np.asarray(history.sum(axis=1)).ravel()
        mean_rows = sp.diags(1.0 / np.maximum(counts, 1.0)).astype(np.float32) @ history
        profiles = mean_rows @ item_vectors

        # Rows and items are unit length after this, so a product is a cosine. Zero rows stay zero.
        self.profiles = normalize(profiles, norm="l2", axis=1).tocsr()
        self.item_vectors_t = normalize(item_vectors, norm="l2", axis=1).T.tocsr()

    def score(self, users: torch.Tensor, scenario: int | None = None) -> torch.Tensor:
        if self.profiles is None or self.item_vectors_t is None:
            raise RuntimeError("tfidf-content.score was called before fit")
        rows = self.profiles[users.cpu().numpy()] @ self.item_vectors_t
        return torch.from_numpy(np.asarray(rows.toarray(), dtype=np.float32))
