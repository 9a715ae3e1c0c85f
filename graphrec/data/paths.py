"""Location of the data root, the folder that contains downloaded datasets."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ROOT_ENV = "GRAPHREC_DATA"


def resolve_data_root(cli_value: str | Path | None) -> Path:
    """Return the data root, with ``~`` expanded. The folder is not created.

    The order is: ``cli_value`` (the ``--data-root`` option), then the
    ``GRAPHREC_DATA`` environment variable, then ``$XDG_CACHE_HOME/graphrec/data``,
    then ``~/.cache/graphrec/data``. An empty environment variable counts as
    unset. A relative ``XDG_CACHE_HOME`` is ignored, as the XDG Base Directory
    specification requires.
    """
    if cli_value is not None:
        return Path(cli_value).expanduser()

    env_value = os.environ.get(DATA_ROOT_ENV, "")
    if env_value:
        return Path(env_value).expanduser()

    cache_home = Path(os.environ.get("XDG_CACHE_HOME", "")).expanduser()
    if not cache_home.is_absolute():
        cache_home = Path("~/.cache").expanduser()
    return cache_home / "graphrec" / "data"
