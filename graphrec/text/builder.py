"""Item texts for language-model encoders, built from the columns of a dataset's item table.

Each item becomes one short English text from the columns the item table has:

    "The Shawshank Redemption (1994). Genres: Drama. Tags: prison, friendship."

* ``title``: MovieLens titles put a leading article last ("Shawshank
  Redemption, The (1994)"). The builder moves it back to the front and drops
  the year at the end of the title, because the ``year`` column adds it again.
* ``year``: in parentheses after the title, or "Year: 1994." when the title is
  missing.
* ``genres``: a tuple of genre names, listed in their stored order.
* ``tags``: a tuple of user tags (ml-latest-small, ml-latest, ml-10m, ...),
  the first ``max_tags`` of them in their stored order (the MovieLens loaders
  sort them alphabetically).

A missing column or value adds nothing. An item with no text at all gets the
empty string.

NOTE: MovieLens tags come from the users' own tagging over the whole
collection period and are not split with the ratings. A tag can therefore
stem from a user whose rating of that item is held out, a weak leak of
evaluation data. Leave ``tags`` out of ``fields`` for a strictly clean text
feature.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import pandas as pd

from graphrec.data.dataset import RecDataset
from graphrec.errors import DataError

logger = logging.getLogger(__name__)

TEXT_FIELDS = ("title", "year", "genres", "tags")
MAX_TAGS = 20

# A year in parentheses at the very end of a title, as in "Toy Story (1995)".
_TRAILING_YEAR = re.compile(r"\s*\(\d{4}\)\s*$")
# Articles that MovieLens titles put after a comma, as in "Cité des enfants perdus, La".
_ARTICLES = ("The", "A", "An", "Le", "La", "Les", "L'", "Il", "El", "Los", "Las", "Der", "Die", "Das")
_MOVED_ARTICLE = re.compile(
    r"^(?P<body>.+), (?P<article>" + "|".join(re.escape(a) for a in _ARTICLES) + r")(?P<rest>\s+\(.*\))?$"
)


def readable_title(title: str) -> str:
    """Drop a trailing "(1995)" and move a trailing article to the front.

    "Shawshank Redemption, The (1994)" becomes "The Shawshank Redemption" and
    "City of Lost Children, The (Cité des enfants perdus, La) (1995)" becomes
    "The City of Lost Children (Cité des enfants perdus, La)": only the article
    of the main title moves.
    """
    title = _TRAILING_YEAR.sub("", title.strip())
    match = _MOVED_ARTICLE.match(title)
    if match is None:
        return title
    article, body, rest = match["article"], match["body"], match["rest"] or ""
    separator = "" if article.endswith("'") else " "
    return f"{article}{separator}{body}{rest}"


def item_text(
    title: object = None,
    year: object = None,
    genres: object = None,
    tags: object = None,
    max_tags: int = MAX_TAGS,
) -> str:
    """Build the text of one item from its raw column values, skipping missing values (None, NA)."""
    parts = []
    has_title = isinstance(title, str) and title.strip() != ""
    has_year = not _is_missing(year)
    if has_title:
        head = readable_title(title)
        parts.append(f"{head} ({int(year)})" if has_year else head)
    elif has_year:
        parts.append(f"Year: {int(year)}")

    genre_names = _names(genres)
    if genre_names:
        parts.append("Genres: " + ", ".join(genre_names))

    tag_names = _names(tags)[:max_tags]
    if tag_names:
        parts.append("Tags: " + ", ".join(tag_names))
    return ". ".join(parts) + "." if parts else ""


def item_texts(item_table: pd.DataFrame, fields: Sequence[str] = TEXT_FIELDS, max_tags: int = MAX_TAGS) -> list[str]:
    """Return the text of every row of ``item_table``, in row order.

    ``fields`` selects which of ``title``, ``year``, ``genres`` and ``tags``
    to use. A field the table lacks is skipped.
    """
    unknown = sorted(set(fields) - set(TEXT_FIELDS))
    if unknown:
        raise DataError(f"unknown item text fields {unknown}; valid fields: {', '.join(TEXT_FIELDS)}")
    columns = {name: item_table[name].tolist() if name in item_table and name in fields else None for name in TEXT_FIELDS}
    n_rows = len(item_table)

    def column_value(name: str, row: int) -> object:
        values = columns[name]
        return None if values is None else values[row]

    return [
        item_text(
            column_value("title", row),
            column_value("year", row),
            column_value("genres", row),
            column_value("tags", row),
            max_tags=max_tags,
        )
        for row in range(n_rows)
    ]


def dataset_item_texts(dataset: RecDataset, fields: Sequence[str] = TEXT_FIELDS, max_tags: int = MAX_TAGS) -> list[str]:
    """Return the text of every item of ``dataset``, where entry ``i`` belongs to item index ``i``.

    Raises DataError when no item has any text, as for the Douban sample and
    the generic CSV loader, whose item tables carry no title, genres or tags.
    """
    if len(dataset.item_table) != dataset.n_items:
        raise DataError(
            f"dataset {dataset.name}: the item table has {len(dataset.item_table)} rows for {dataset.n_items} items"
        )
    texts = item_texts(dataset.item_table, fields, max_tags)
    n_empty = sum(1 for text in texts if not text)
    if n_empty == len(texts):
        raise DataError(
            f"dataset {dataset.name} has no item text: every item lacks {', '.join(fields)}; "
            "text features need an item table with at least one of these columns filled"
        )
    if n_empty:
        logger.warning("dataset %s: %d of %d items have no text and get the empty string", dataset.name, n_empty, len(texts))
    n_distinct = len(set(texts))
    if n_distinct < len(texts):
        logger.info("dataset %s: %d distinct texts for %d items", dataset.name, n_distinct, len(texts))
    return texts


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _names(values: object) -> list[str]:
    """Return the non-empty strings of a tuple or list column value, or [] for any other value."""
    if not isinstance(values, (tuple, list)):
        return []
    return [str(v).strip() for v in values if isinstance(v, str) and v.strip()]
