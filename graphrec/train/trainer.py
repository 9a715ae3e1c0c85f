"""Mini-batch BPR training with early stopping on a validation metric."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TRAIN, VALID
from graphrec.eval.evaluator import OVERALL, evaluate_model
from graphrec.experiments.config import TrainConfig
from graphrec.models.base import Recommender
from graphrec.train.sampling import UniformNegativeSampler

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Training outcome: the restored epoch, its validation score and the per-epoch history."""

    best_epoch: int
    best_valid: float
    epochs_run: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


class Trainer:
    """Adam on the BPR loss, one uniform negative per positive, early stopping.

    Every ``eval_every`` epochs the model is scored on the validation split.
    Training stops after ``patience`` evaluations without improvement of
    ``valid_metric``, and then the weights of the best evaluation are restored.
    """

    def __init__(
        self,
        config: TrainConfig,
        valid_metric: str = "mrr@10",
        ks: tuple[int, ...] = (10, 20),
        metrics: tuple[str, ...] = ("recall", "ndcg", "precision", "hit", "mrr"),
        eval_batch_size: int = 1024,
        seed: int = 0,
        progress: bool = True,
        label: str = "model",
    ):
        self.config = config
        self.valid_metric = valid_metric
        self.ks = ks
        self.metrics = metrics
        self.eval_batch_size = eval_batch_size
        self.rng = np.random.default_rng(seed)
        self.progress = progress
        self.label = label

    def fit(self, model: Recommender, dataset: RecDataset) -> TrainResult:
        cfg = self.config
        train = dataset.splits == TRAIN
        users = dataset.users[train]
        items = dataset.items[train]
        scenarios = dataset.scenarios[train]
        sampler = UniformNegativeSampler(dataset.train_matrix, self.rng)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)

        best_score, best_epoch, best_state = -np.inf, 0, copy.deepcopy(model.state_dict())
        stale, history = 0, []
        started = time.perf_counter()
        bar = tqdm(range(1, cfg.epochs + 1), desc=f"train {self.label}", disable=not self.progress, leave=False)

        for epoch in bar:
            loss = self._run_epoch(model, optimizer, sampler, users, items, scenarios)
            record = {"epoch": epoch, "loss": loss}

            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                result = evaluate_model(
                    model, dataset, VALID, self.ks, self.metrics, self.eval_batch_size, per_scenario=False
                )
                score = result.means()[OVERALL][self.valid_metric]
                record[f"valid_{self.valid_metric}"] = score
                if score > best_score:
                    best_score, best_epoch, stale = score, epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    stale += 1
                logger.info(
                    "%s epoch %d: loss %.4f, valid %s %.4f (best %.4f at epoch %d)",
                    self.label, epoch, loss, self.valid_metric, score, best_score, best_epoch,
                )
                bar.set_postfix(loss=f"{loss:.4f}", valid=f"{score:.4f}", best=best_epoch)
            else:
                logger.info("%s epoch %d: loss %.4f", self.label, epoch, loss)
            history.append(record)

            if stale >= cfg.patience:
                logger.info("%s: early stop after epoch %d (no gain for %d evaluations)", self.label, epoch, stale)
                break

        bar.close()
        model.load_state_dict(best_state)
        model.prepare_scoring()
        seconds = time.perf_counter() - started
        logger.info("%s: restored epoch %d (valid %s %.4f), %.1f s", self.label, best_epoch, self.valid_metric, best_score, seconds)
        return TrainResult(best_epoch, float(best_score), len(history), seconds, history)

    def _run_epoch(self, model, optimizer, sampler, users, items, scenarios) -> float:
        model.train()
        order = self.rng.permutation(len(users))
        total, batches = 0.0, 0
        for start in range(0, len(order), self.config.batch_size):
            rows = order[start : start + self.config.batch_size]
            batch_users = users[rows]
            negatives = sampler.sample(batch_users)
            loss = model.loss(
                torch.from_numpy(batch_users),
                torch.from_numpy(items[rows]),
                torch.from_numpy(negatives),
                torch.from_numpy(scenarios[rows]),
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        return total / max(batches, 1)
