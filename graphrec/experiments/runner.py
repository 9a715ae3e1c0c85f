"""Run a benchmark: every listed model, every seed, one shared split."""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import dgl
import numpy as np
import pandas as pd
import torch

from graphrec.data.dataset import RecDataset, build_dataset
from graphrec.data.preprocess import PreprocessConfig, preprocess
from graphrec.data.registry import load_dataset
from graphrec.data.scenarios import assign_scenarios
from graphrec.data.splitting import split_dataset
from graphrec.data.split import TEST, VALID
from graphrec.eval.evaluator import evaluate_model
from graphrec.experiments.comparison import per_user_entries
from graphrec.experiments.config import BenchmarkConfig, TrainConfig
from graphrec.graph.build import build_graph
from graphrec.models.base import Recommender
from graphrec.models.registry import build_model
from graphrec.resources import MemoryBudget
from graphrec.train.trainer import Trainer

logger = logging.getLogger(__name__)

METRIC_COLUMNS = ["model", "seed", "split", "scenario", "metric", "value"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, torch and DGL."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    dgl.seed(seed)
    logger.info(
        "seeded python, numpy, torch and dgl with %d; CPU runs repeat exactly for a seed, "
        "CUDA runs are not checked and torch's CUDA index_add_ is not deterministic", seed,
    )


def prepare_data(config: BenchmarkConfig, data_root: Path, download: bool = True) -> RecDataset:
    """Load, assign scenarios and split the configured dataset."""
    raw = load_dataset(config.dataset.name, data_root, download=download, on_bad_rows=config.dataset.on_bad_rows)
    if config.preprocess != PreprocessConfig():
        raw, reports = preprocess(raw, config.preprocess)
        for report in reports:
            logger.info("preprocess %s", report)
    # Only the files split rebuilds the interactions, and scenario-holdout needs
    # the scenarios first, so they are assigned before the split for it.
    assignment = assign_scenarios(config.scenario, raw) if config.protocol.split_method == "scenario-holdout" else None
    scenarios = None if assignment is None else assignment.interaction_scenario
    raw, labels = split_dataset(raw, config.protocol, data_root, scenarios)
    if assignment is None:
        assignment = assign_scenarios(config.scenario, raw)
    return build_dataset(raw, assignment, tuple(config.protocol.split), config.protocol.seed, split_labels=labels)


@dataclass
class ModelRun:
    """One trained model of one seed, with its metric rows."""

    label: str
    seed: int
    model: Recommender
    rows: list[dict]
    best_epoch: int | None
    seconds: float
    #: Per-user test values of the overall metrics (``"users"`` contains the user
    #: indices), for paired significance tests; None where the protocol has none.
    per_user: dict[str, np.ndarray] | None = None


def train_model(
    config: BenchmarkConfig,
    index: int,
    dataset: RecDataset,
    graph: dgl.DGLGraph,
    seed: int,
    progress: bool = True,
    checkpoint_root: Path | None = None,
    resume: bool = False,
) -> tuple[Recommender, int | None, float]:
    """Build and fit the ``index``-th model of ``config`` with ``seed``.

    Gradient models go through the Trainer, which early-stops on the
    full-ranking ``protocol.valid_metric``. With ``checkpoint_root``, training
    checkpoints go to ``checkpoint_root/<label>-seed<seed>/``, and ``resume``
    continues from them. Returns the model, the restored epoch (None for
    models without gradient training) and the training seconds.
    """
    spec = config.models[index]
    protocol = config.protocol
    seed_everything(seed)
    model = build_model(spec.name, spec.params, dataset, graph)
    logger.info("model %s (seed %d): %s", spec.display_name, seed, model)

    if not model.trainable:
        model.fit(dataset)
        return model, None, 0.0

    trainer = Trainer(
        TrainConfig(**spec.train),
        valid_metric=protocol.valid_metric,
        ks=tuple(protocol.ks),
        metrics=tuple(protocol.metrics),
        eval_batch_size=protocol.eval_batch_size,
        memory_budget=MemoryBudget.from_mb(protocol.memory_budget_mb),
        seed=seed,
        progress=progress,
        label=spec.display_name,
    )
    checkpoint_dir = checkpoint_root / f"{spec.display_name}-seed{seed}" if checkpoint_root else None
    result = trainer.fit(model, dataset, checkpoint_dir=checkpoint_dir, resume=resume, model_name=spec.name)
    return model, result.best_epoch, result.seconds


def run_model(
    config: BenchmarkConfig,
    index: int,
    dataset: RecDataset,
    graph: dgl.DGLGraph,
    seed: int,
    progress: bool = True,
    checkpoint_root: Path | None = None,
    resume: bool = False,
) -> ModelRun:
    """Train (see :func:`train_model`) and evaluate the ``index``-th model of ``config`` with ``seed``."""
    spec = config.models[index]
    protocol = config.protocol
    model, best_epoch, seconds = train_model(config, index, dataset, graph, seed, progress, checkpoint_root, resume)

    budget = MemoryBudget.from_mb(protocol.memory_budget_mb)
    rows, per_user = [], None
    for split in (VALID, TEST):
        evaluation = evaluate_model(
            model, dataset, split, tuple(protocol.ks), tuple(protocol.metrics), protocol.eval_batch_size,
            memory_budget=budget,
        )
        if split == TEST:
            per_user = per_user_entries(evaluation.per_user)
        for scenario, values in evaluation.means().items():
            for metric, value in values.items():
                rows.append(
                    {"model": spec.display_name, "seed": seed, "split": evaluation.split,
                     "scenario": scenario, "metric": metric, "value": value}
                )
    return ModelRun(spec.display_name, seed, model, rows, best_epoch, seconds, per_user)


def _pointwise_runner(kind: str):
    from graphrec.experiments.ctr_runner import run_ctr_model, run_rating_model

    return run_ctr_model if kind == "ctr" else run_rating_model


def run_benchmark(
    config: BenchmarkConfig,
    dataset: RecDataset,
    progress: bool = True,
    on_run=None,
    checkpoint_root: Path | None = None,
    resume: bool = False,
    finished: set[tuple[str, int]] = frozenset(),
) -> pd.DataFrame:
    """Run every model for every seed and return the metric rows of the new runs.

    Seed ``i`` (0-based) uses ``protocol.seed + i`` for initialisation and
    sampling. The split always uses ``protocol.seed``, so all runs share it.
    ``on_run`` is called with each finished :class:`ModelRun`. Runs whose
    ``(label, seed)`` is in ``finished`` are skipped.
    """
    graph = build_graph(dataset)
    logger.info("graph: %s", {etype: graph.num_edges(etype) for etype in graph.etypes})
    rows = []
    for offset in range(config.seeds):
        seed = config.protocol.seed + offset
        for index, spec in enumerate(config.models):
            if (spec.display_name, seed) in finished:
                logger.info("skipping %s seed %d: already in metrics.csv", spec.display_name, seed)
                continue
            if config.protocol.kind in ("ctr", "rating"):
                # NOTE: CTR and rating runs write no checkpoints, so --resume restarts an interrupted one.
                run = _pointwise_runner(config.protocol.kind)(config, index, dataset, graph, seed, progress)
            elif config.protocol.kind == "sampled":
                from graphrec.experiments.sampled_runner import run_sampled_model

                run = run_sampled_model(config, index, dataset, graph, seed, progress, checkpoint_root, resume)
            else:
                run = run_model(config, index, dataset, graph, seed, progress, checkpoint_root, resume)
            rows.extend(run.rows)
            if on_run is not None:
                on_run(run)
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def resolved_config(config: BenchmarkConfig) -> dict:
    return dataclasses.asdict(config)
