"""Load one trained model of a run folder written by ``graphrec benchmark``.

The run folder contains the resolved ``config.yaml``, ``run.json``,
``metrics.csv`` and ``checkpoints/<label>-seed<seed>/best.pt``. The loader
rebuilds the dataset from the config with the same split seed, builds the
graph and the model, and loads the best weights. ``load_checkpoint`` rejects
weights written for another dataset or split, and ``id-maps.json``, when the
run has one, must match the rebuilt raw ids. Models trained without
gradients (Pop) have no checkpoint and are fitted again, which repeats their
training result exactly.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from graphrec.data.dataset import RecDataset
from graphrec.data.paths import resolve_data_root
from graphrec.errors import ConfigError
from graphrec.experiments.config import BenchmarkConfig, ModelConfig, load_config
from graphrec.models.base import Recommender
from graphrec.serve.idmaps import check_id_maps

logger = logging.getLogger(__name__)


@dataclass
class LoadedRun:
    """A trained model with the dataset it was trained on."""

    run_dir: Path
    run_id: str
    config: BenchmarkConfig
    spec: ModelConfig
    seed: int
    dataset: RecDataset
    model: Recommender
    checkpoint: Path | None
    best_epoch: int | None
    id_maps_checked: bool

    @property
    def label(self) -> str:
        return self.spec.display_name


def load_run(
    run_dir: Path, model_label: str | None = None, seed: int | None = None, data_root: Path | None = None
) -> LoadedRun:
    """Load the model ``model_label`` of seed ``seed`` from ``run_dir``.

    Without ``model_label`` the model with the best validation score (the
    config's ``protocol.valid_metric``) in ``metrics.csv`` is served. Without
    ``seed`` the run's first seed is used. Without ``data_root`` the data
    folder recorded in ``run.json`` is used when it exists, else the default
    data root.
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    config = _read_config(run_dir)
    record = _read_run_record(run_dir)
    seeds = [int(s) for s in record.get("seeds", [])] or [config.protocol.seed + i for i in range(config.seeds)]
    if seed is None:
        seed = seeds[0]
    elif seed not in seeds:
        raise ConfigError(f"--seed {seed} is not a seed of run {run_dir}; its seeds are {seeds}")
    spec = _select_model(config, run_dir, model_label, seed)

    root = _data_root(data_root, record)
    dataset, model, checkpoint, best_epoch = _rebuild(config, spec, seed, root, run_dir)
    checked = check_id_maps(run_dir, dataset)
    if not checked:
        logger.warning(
            "%s has no id-maps.json; raw ids come from the rebuilt dataset, and only the checkpoint's "
            "dataset fingerprint guards against changed data", run_dir,
        )
    logger.info(
        "loaded %s (seed %d) from %s in %.1f s: %d users, %d items, scenarios %s",
        spec.display_name, seed, run_dir, time.perf_counter() - started,
        dataset.n_users, dataset.n_items, ", ".join(dataset.scenario_names),
    )
    return LoadedRun(run_dir, record.get("run_id", run_dir.name), config, spec, seed, dataset, model,
                     checkpoint, best_epoch, checked)


def _read_config(run_dir: Path) -> BenchmarkConfig:
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a graphrec run folder: {path} is missing")
    config = load_config(path)
    if config.protocol.kind not in ("topk", "sampled"):
        raise ConfigError(
            f"run {run_dir} uses protocol.kind {config.protocol.kind!r}, which writes no checkpoints; "
            "serve a run of kind 'topk' or 'sampled'"
        )
    if not config.models:
        raise ConfigError(f"the config of run {run_dir} lists no models")
    return config


def _read_run_record(run_dir: Path) -> dict:
    path = run_dir / "run.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        logger.warning("%s is missing; assuming the seeds of the config", path)
        return {}
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from None


def _data_root(explicit: Path | None, record: dict) -> Path:
    if explicit is not None:
        return resolve_data_root(explicit)
    recorded = record.get("data_root")
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    return resolve_data_root(None)


def _has_weights(spec: ModelConfig, run_dir: Path, seed: int) -> bool:
    """True when the model can be served: a checkpoint exists, or it is fitted without gradients."""
    from graphrec.models.registry import get_model_class

    if not get_model_class(spec.name).trainable:
        return True
    return checkpoint_path(run_dir, spec, seed).is_file()


def checkpoint_path(run_dir: Path, spec: ModelConfig, seed: int) -> Path:
    return run_dir / "checkpoints" / f"{spec.display_name}-seed{seed}" / "best.pt"


def _select_model(config: BenchmarkConfig, run_dir: Path, label: str | None, seed: int) -> ModelConfig:
    by_label = {spec.display_name: spec for spec in config.models}
    if label is not None:
        if label not in by_label:
            raise ConfigError(f"--model {label!r} is not a model of run {run_dir}; its models: {', '.join(by_label)}")
        spec = by_label[label]
        if not _has_weights(spec, run_dir, seed):
            raise ConfigError(
                f"{checkpoint_path(run_dir, spec, seed)} is missing: model {label!r} of seed {seed} did not "
                "finish training; finish the run with graphrec benchmark --resume or choose another --model"
            )
        return spec

    available = [spec for spec in config.models if _has_weights(spec, run_dir, seed)]
    if not available:
        raise ConfigError(f"run {run_dir} has no finished model for seed {seed}: no checkpoints/*-seed{seed}/best.pt")
    best = _best_on_validation(run_dir / "metrics.csv", config.protocol.valid_metric, seed, available)
    logger.info("serving %s, the best model on validation %s (--model chooses another)",
                best.display_name, config.protocol.valid_metric)
    return best


def _best_on_validation(metrics_path: Path, metric: str, seed: int, candidates: list[ModelConfig]) -> ModelConfig:
    """Return the candidate with the highest validation ``metric``; the first candidate when none has one."""
    if not metrics_path.is_file():
        return candidates[0]
    frame = pd.read_csv(metrics_path)
    rows = frame[(frame["split"] == "valid") & (frame["scenario"] == "all")
                 & (frame["metric"] == metric) & (frame["seed"] == seed)]
    values = dict(zip(rows["model"].astype(str), rows["value"]))
    scored = [spec for spec in candidates if spec.display_name in values]
    if not scored:
        return candidates[0]
    return max(scored, key=lambda spec: values[spec.display_name])


def _rebuild(
    config: BenchmarkConfig, spec: ModelConfig, seed: int, data_root: Path, run_dir: Path
) -> tuple[RecDataset, Recommender, Path | None, int | None]:
    """Rebuild the dataset and graph, then build the model and load or refit its weights."""
    from graphrec.experiments.runner import prepare_data, seed_everything
    from graphrec.graph.build import build_graph
    from graphrec.models.registry import build_model
    from graphrec.train.checkpoint import dataset_fingerprint, load_checkpoint

    dataset = prepare_data(config, data_root, download=False)
    graph = build_graph(dataset)
    seed_everything(seed)
    model = build_model(spec.name, spec.params, dataset, graph)

    checkpoint, best_epoch = None, None
    if model.trainable:
        checkpoint = checkpoint_path(run_dir, spec, seed)
        payload = load_checkpoint(checkpoint, spec.name, dataset_fingerprint(dataset))
        model.load_state_dict(payload["model_state"])
        best_epoch = payload.get("epoch")
    else:
        model.fit(dataset)
    model.eval()
    return dataset, model, checkpoint, best_epoch
