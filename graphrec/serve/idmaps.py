"""Raw-id maps saved with a run, so that a served model maps raw ids exactly as in training.

``id-maps.json`` in the run folder lists the raw user ids, raw item ids and
scenario names in index order: ``user_ids[u]`` is the raw id of user index
``u``. The service rebuilds the dataset from the run's config and checks it
against this file. A mismatch means the data changed after training, and
every index in the checkpoint would then point at the wrong user or item.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from graphrec.data.dataset import RecDataset
from graphrec.errors import DataError
from graphrec.io import atomic_write_text

logger = logging.getLogger(__name__)

ID_MAPS_FILE = "id-maps.json"


def save_id_maps(run_dir: Path, dataset: RecDataset) -> Path:
    """Write ``run_dir/id-maps.json`` for ``dataset`` and return its path."""
    path = Path(run_dir) / ID_MAPS_FILE
    record = {
        "dataset": dataset.name,
        "scenario_spec": dataset.scenario_spec,
        "scenario_names": list(dataset.scenario_names),
        "user_ids": dataset.user_ids.tolist(),
        "item_ids": dataset.item_ids.tolist(),
    }
    atomic_write_text(path, json.dumps(record))
    return path


def check_id_maps(run_dir: Path, dataset: RecDataset) -> bool:
    """Check ``dataset`` against the run's saved id maps.

    Returns False when the run folder has no id maps (runs written before
    they were saved), True when they match, and raises DataError when they
    differ.
    """
    path = Path(run_dir) / ID_MAPS_FILE
    if not path.is_file():
        return False
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read the id maps: {err}", path) from None

    for key, current in (
        ("user_ids", dataset.user_ids.tolist()),
        ("item_ids", dataset.item_ids.tolist()),
        ("scenario_names", list(dataset.scenario_names)),
    ):
        saved = [str(value) for value in record.get(key, [])]
        now = [str(value) for value in current]
        if saved != now:
            raise DataError(
                f"{key} of the rebuilt dataset differ from the run's ({_first_difference(saved, now)}); "
                "serve with the data the run was trained on (--data-root)",
                path,
            )
    return True


def _first_difference(saved: list[str], now: list[str]) -> str:
    if len(saved) != len(now):
        return f"{len(saved)} saved, {len(now)} now"
    index = next(i for i, (a, b) in enumerate(zip(saved, now)) if a != b)
    return f"index {index} is {saved[index]!r} in the run and {now[index]!r} now"
