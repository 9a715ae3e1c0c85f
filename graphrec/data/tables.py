"""The raw tables a loader returns, before scenarios and splits are applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class RawData:
    """One dataset as read from disk, with raw (file) ids.

    ``interactions`` has the columns ``user_id``, ``item_id``, ``rating``
    (float) and ``timestamp`` (int64, seconds). ``items`` has ``item_id``,
    ``title``, ``year`` (pandas ``Int64``, missing when the title has none) and
    ``genres`` (a tuple of genre names per item). ``users`` has ``user_id`` and
    whatever demographics the release ships (for ml-100k: ``age``, ``gender``,
    ``occupation``, ``zip_code``), or is ``None``.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame | None
    genres: list[str]
    source_files: list[Path] = field(default_factory=list)
