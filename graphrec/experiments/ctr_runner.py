"""Run one model of a benchmark under the CTR protocol.

Under this protocol an interaction's label is 1 when its rating is above
``protocol.ctr_threshold`` (3.0 by default, so 4 and 5 of a 1-5 scale). The
split comes from ``protocol.split_method``, which must be explicit; with
``interactions`` the rows are split at random without regard to users.
Models are trained with binary cross-entropy and evaluated by AUC and log
loss, overall and per scenario.
"""

from __future__ import annotations

import logging

import dgl
import numpy as np

from graphrec.data.dataset import RecDataset
from graphrec.data.split import SPLIT_NAMES, TEST, TRAIN, VALID, split_counts
from graphrec.eval.ctr import ctr_labels
from graphrec.eval.ctr_evaluator import evaluate_ctr
from graphrec.eval.rating_evaluator import evaluate_rating
from graphrec.experiments.config import BenchmarkConfig, TrainConfig
from graphrec.experiments.runner import ModelRun, seed_everything
from graphrec.models.registry import build_model
from graphrec.train.ctr_trainer import CTRTrainer

logger = logging.getLogger(__name__)

CTR_METRICS = ("auc", "logloss")


def random_split_over_interactions(n: int, ratios: tuple[float, float, float], seed: int) -> np.ndarray:
    """Assign each of ``n`` interactions to TRAIN, VALID or TEST at random, ignoring users.

    The sizes come from :func:`graphrec.data.split.split_counts` applied to all
    ``n`` rows, so ``n=10`` with ratios (0.8, 0.1, 0.1) gives exactly 8, 1 and
    1. Rows are permuted by a NumPy generator seeded with ``seed``. The result
    is int8 and depends only on ``n``, the ratios and the seed.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"split ratios must be three non-negative numbers summing to 1, got {ratios}")

    n_train, n_valid, _ = split_counts(n, tuple(ratios))
    order = np.random.default_rng(seed).permutation(n)
    labels = np.empty(n, dtype=np.int8)
    labels[order[:n_train]] = TRAIN
    labels[order[n_train : n_train + n_valid]] = VALID
    labels[order[n_train + n_valid :]] = TEST
    return labels


def run_ctr_model(
    config: BenchmarkConfig,
    index: int,
    dataset: RecDataset,
    graph: dgl.DGLGraph,
    seed: int,
    progress: bool = True,
) -> ModelRun:
    """Train and evaluate the ``index``-th model of ``config`` with ``seed`` under the CTR protocol.

    ``dataset`` must already carry the CTR split (see
    :func:`random_split_over_interactions`) and ``graph`` must be built from
    its training interactions. This function labels and evaluates whatever
    split it receives. The rows cover the splits ``valid`` and ``test``, the
    scenarios ``"all"`` and every name in ``dataset.scenario_names``, and the
    metrics ``auc`` and ``logloss``.

    NOTE: unlike :func:`graphrec.experiments.runner.run_model`, there are no
    training checkpoints here, so an interrupted CTR run starts over.
    """
    spec = config.models[index]
    threshold = config.protocol.ctr_threshold
    seed_everything(seed)
    labels = ctr_labels(dataset.ratings, threshold)
    logger.info(
        "CTR labels: %d of %d interactions have a rating above %g", int(labels.sum()), labels.size, threshold
    )

    model = build_model(spec.name, spec.params, dataset, graph)
    logger.info("model %s (seed %d, CTR protocol): %s", spec.display_name, seed, model)
    trainer = CTRTrainer(TrainConfig(**spec.train), seed=seed, progress=progress, label=spec.display_name)
    result = trainer.fit(model, dataset, labels)
    best_epoch = result.best_epoch if model.trainable else None
    seconds = result.seconds if model.trainable else 0.0

    rows = []
    for split in (VALID, TEST):
        evaluation = evaluate_ctr(model, dataset, split, labels)
        for scenario, values in evaluation.items():
            for metric in CTR_METRICS:
                rows.append(
                    {"model": spec.display_name, "seed": seed, "split": SPLIT_NAMES[split],
                     "scenario": scenario, "metric": metric, "value": float(values[metric])}
                )
    return ModelRun(spec.display_name, seed, model, rows, best_epoch, seconds)


RATING_METRICS = ("rmse", "mae")


def run_rating_model(
    config: BenchmarkConfig,
    index: int,
    dataset: RecDataset,
    graph: dgl.DGLGraph,
    seed: int,
    progress: bool = True,
) -> ModelRun:
    """Train and evaluate the ``index``-th model of ``config`` under the rating protocol.

    The model predicts ``mean training rating + pair_logits`` and trains with
    squared error, unless it defines ``pointwise_epoch`` (GC-MC trains with
    cross-entropy over rating levels). Rows report ``rmse`` and ``mae`` for
    ``valid`` and ``test``, overall and per scenario.
    """
    spec = config.models[index]
    seed_everything(seed)
    model = build_model(spec.name, spec.params, dataset, graph)
    logger.info("model %s (seed %d, rating protocol): %s", spec.display_name, seed, model)
    trainer = CTRTrainer(
        TrainConfig(**spec.train), seed=seed, progress=progress, label=spec.display_name, objective="rating"
    )
    result = trainer.fit(model, dataset, dataset.ratings)

    rows = []
    for split in (VALID, TEST):
        evaluation = evaluate_rating(model, dataset, split, trainer.offset)
        for scenario, values in evaluation.items():
            for metric in RATING_METRICS:
                rows.append(
                    {"model": spec.display_name, "seed": seed, "split": SPLIT_NAMES[split],
                     "scenario": scenario, "metric": metric, "value": float(values[metric])}
                )
    best_epoch = result.best_epoch if model.trainable else None
    return ModelRun(spec.display_name, seed, model, rows, best_epoch, result.seconds)
