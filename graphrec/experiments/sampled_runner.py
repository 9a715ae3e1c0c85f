"""Run one model under the sampled-negative protocol (``protocol.kind: sampled``).

Training is the same as for full ranking: gradient models go through
:class:`graphrec.train.trainer.Trainer`, which early-stops on the full-ranking
validation metric ``protocol.valid_metric``. Only the reported valid and test
values use the sampled candidates. Full-ranking validation keeps model
selection independent of the sampled candidates. It also makes a model trained
for this protocol the same model that a full-ranking run trains with the same
seed, so a comparison of the two protocols differs in scoring only.

The candidates come from :func:`graphrec.eval.sampled.load_or_sample_negatives`
with ``protocol.seed`` (the split seed, not the model seed), so every model
and every seed of a run ranks the same negatives. With a checkpoint folder
they are stored as ``sampled-negatives.npz`` in its parent, the run folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dgl
import numpy as np
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.split import SPLIT_NAMES, TEST, VALID
from graphrec.errors import ConfigError
from graphrec.eval.evaluator import OVERALL
from graphrec.eval.sampled import NEGATIVES_FILE, NegativeSample, evaluate_sampled, load_or_sample_negatives
from graphrec.experiments.config import BenchmarkConfig
from graphrec.experiments.runner import ModelRun, train_model
from graphrec.models.base import Recommender
from graphrec.models.registry import get_model_class
from graphrec.resources import MemoryBudget

logger = logging.getLogger(__name__)


def check_sampled_protocol(config: BenchmarkConfig) -> None:
    """Raise ConfigError unless the full-ranking validation metric that early stopping reads is computed."""
    protocol = config.protocol
    computed = [f"{metric}@{k}" for metric in protocol.metrics for k in protocol.ks]
    trainable = any(get_model_class(spec.name).trainable for spec in config.models)
    if trainable and protocol.valid_metric not in computed:
        raise ConfigError(
            f"protocol.valid_metric {protocol.valid_metric!r} is not computed; the sampled protocol early-stops "
            f"on full-ranking validation, so choose one of {', '.join(computed)}"
        )
    if protocol.split_method != "leave-last-out":
        logger.warning(
            "protocol.kind sampled with split_method %s: users with several held-out items get one candidate "
            "list per item, averaged per user; the usual setting is leave-last-out",
            protocol.split_method,
        )


def negatives_path(checkpoint_root: Path | None) -> Path | None:
    """Return where a run stores its negatives: the run folder that contains ``checkpoint_root``."""
    return None if checkpoint_root is None else checkpoint_root.parent / NEGATIVES_FILE


def sampled_metric_rows(
    model: Recommender, dataset: RecDataset, sample: NegativeSample, config: BenchmarkConfig, label: str, seed: int
) -> tuple[list[dict], dict]:
    """Evaluate ``model`` on the sampled valid and test candidates.

    Returns the metric rows (scenario ``all`` only) and the per-user test values.
    """
    protocol = config.protocol
    budget = MemoryBudget.from_mb(protocol.memory_budget_mb)
    was_training = model.training
    model.eval()
    try:
        model.prepare_scoring()

        def score_fn(users: np.ndarray) -> torch.Tensor:
            return model.score(torch.from_numpy(np.asarray(users, dtype=np.int64)))

        rows, per_user = [], {}
        for split in (VALID, TEST):
            name = SPLIT_NAMES[split]
            values = evaluate_sampled(
                score_fn, sample.splits[name], dataset.n_items, tuple(protocol.ks), protocol.eval_batch_size, budget
            )
            if split == TEST:
                per_user = values
            for metric, per_user_values in values.items():
                if metric == "users":
                    continue
                value = float(per_user_values.mean()) if len(per_user_values) else float("nan")
                rows.append(
                    {"model": label, "seed": seed, "split": name, "scenario": OVERALL, "metric": metric, "value": value}
                )
    finally:
        model.train(was_training)
    return rows, per_user


def run_sampled_model(
    config: BenchmarkConfig,
    index: int,
    dataset: RecDataset,
    graph: dgl.DGLGraph,
    seed: int,
    progress: bool = True,
    checkpoint_root: Path | None = None,
    resume: bool = False,
) -> ModelRun:
    """Train the ``index``-th model of ``config`` with ``seed`` and score it on sampled candidates.

    The rows hold ``hit@K`` (HR@K) and ``ndcg@K`` for every K in
    ``protocol.ks`` and the untruncated ``mrr``, for the valid and test splits.
    """
    check_sampled_protocol(config)
    protocol = config.protocol
    sample = load_or_sample_negatives(dataset, protocol.n_negatives, protocol.seed, negatives_path(checkpoint_root))

    spec = config.models[index]
    model, best_epoch, seconds = train_model(config, index, dataset, graph, seed, progress, checkpoint_root, resume)
    rows, per_user = sampled_metric_rows(model, dataset, sample, config, spec.display_name, seed)
    return ModelRun(spec.display_name, seed, model, rows, best_epoch, seconds, per_user)
