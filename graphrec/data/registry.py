"""Dataset names and the loader each one uses.

Every dataset lives in its own folder under a data root: ml-100k/, ml-1m/,
ml-latest-small/, ml-latest/, ml-10M100K/ (for ml-10m), ml-20m/, ml-25m/,
ml-32m/ and douban-multidomain-sample/. The MovieLens releases may instead be
given as their zip archive (``<name>.zip``) in the data root, or downloaded
into it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from graphrec.data.bad_rows import check_on_bad_rows
from graphrec.data.tables import RawData
from graphrec.errors import DataError

# A loader takes the data root, whether downloading is allowed, and the on_bad_rows policy.
DatasetLoader = Callable[[Path, bool, str], RawData]


def _load_ml100k(data_root: Path, download: bool, on_bad_rows: str) -> RawData:
    from graphrec.data.movielens import load_movielens

    return load_movielens("ml-100k", data_root, download=download, on_bad_rows=on_bad_rows)


def _movielens_release(name: str) -> DatasetLoader:
    def load(data_root: Path, download: bool, on_bad_rows: str) -> RawData:
        from graphrec.data.movielens_releases import load_release

        return load_release(name, data_root, download=download, on_bad_rows=on_bad_rows)

    return load


def _load_douban_sample(data_root: Path, download: bool, on_bad_rows: str) -> RawData:
    from graphrec.data.douban import DOUBAN_FILE, DOUBAN_FOLDER, load_douban_sample

    folder = data_root / DOUBAN_FOLDER
    if not folder.is_dir():
        raise DataError(
            f"douban-sample not found under {data_root}, and it cannot be downloaded. "
            f"Place {DOUBAN_FILE} (from the Scenario-Wise-Rec benchmark) in {folder}."
        )
    return load_douban_sample(folder, on_bad_rows=on_bad_rows)


_LOADERS: dict[str, DatasetLoader] = {
    "ml-100k": _load_ml100k,
    **{
        name: _movielens_release(name)
        for name in ("ml-1m", "ml-latest-small", "ml-latest", "ml-10m", "ml-20m", "ml-25m", "ml-32m")
    },
    "douban-sample": _load_douban_sample,
}


def available_datasets() -> list[str]:
    """Return the names that load_dataset accepts, sorted (``synthetic`` takes parameters, see graphrec.data.synthetic)."""
    return sorted([*_LOADERS, "synthetic[:N][,key=value...]"])


def load_dataset(name: str, data_root: Path, download: bool = True, on_bad_rows: str = "error") -> RawData:
    """Load the dataset ``name`` from its folder under ``data_root``.

    A MovieLens release whose folder is missing is extracted from
    ``<name>.zip`` in ``data_root`` or, when ``download`` is true, downloaded
    first. ``on_bad_rows`` is "error" (raise DataError at the first bad row)
    or "skip" (drop bad rows and log how many were dropped). Which problems
    can be skipped is listed in graphrec.data.bad_rows. Raises ConfigError
    for another ``on_bad_rows``, DataError for an unknown name (listing the
    known ones), and whatever the dataset's loader raises.
    """
    check_on_bad_rows(on_bad_rows)
    if name == "synthetic" or name.startswith("synthetic:"):
        # Generated, not read: see graphrec.data.synthetic for the parameters.
        from graphrec.data.synthetic import generate_synthetic, parse_synthetic_name

        return generate_synthetic(parse_synthetic_name(name), name=name)
    if name not in _LOADERS:
        raise DataError(f"unknown dataset {name!r}. Known datasets: {', '.join(available_datasets())}.")
    return _LOADERS[name](Path(data_root).expanduser(), download, on_bad_rows)
