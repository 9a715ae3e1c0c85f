"""Pointwise mini-batch training with early stopping.

The ``ctr`` objective fits binary labels with cross-entropy and stops on
validation AUC. The ``rating`` objective fits explicit ratings with squared
error and stops on validation RMSE. A model that defines
``pointwise_epoch(dataset, optimizer, rng, batch_size)`` replaces the
mini-batch loop with its own epoch and loss (GC-MC trains full-batch with
cross-entropy over rating levels), and the early stopping stays the same.
``custom_epoch`` alone does not count, because that hook runs a model's
ranking loss for the BPR Trainer.
"""

from __future__ import annotations

import copy
import logging
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TRAIN, VALID
from graphrec.eval.ctr import OVERALL
from graphrec.eval.rating_evaluator import evaluate_rating
from graphrec.eval.ctr_evaluator import DEFAULT_PAIR_BATCH_SIZE, evaluate_ctr
from graphrec.experiments.config import TrainConfig
from graphrec.models.base import Recommender, l2_penalty
from graphrec.models.pointwise import pair_logits, rating_offset
from graphrec.train.trainer import TrainResult

logger = logging.getLogger(__name__)


def regularisation(
    model: Recommender, users: torch.Tensor, items: torch.Tensor, scenarios: torch.Tensor
) -> torch.Tensor:
    """Return the model's own penalties for a batch, as its BPR loss adds them.

    A model that defines ``pair_penalty(users, items, scenarios)`` supplies
    its whole penalty through that method, and the rules below are skipped.
    Otherwise the penalty is ``reg_weight`` times
    :func:`graphrec.models.base.l2_penalty` of the batch's layer-0
    ``user_emb``, ``item_emb`` and, where the model has one, ``scenario_emb``
    rows, plus ``structure_reg * structure_penalty()`` where the model defines
    both. A model without these attributes adds 0.
    """
    own_penalty = getattr(model, "pair_penalty", None)
    if callable(own_penalty):
        return own_penalty(users, items, scenarios)

    total = torch.zeros(())
    reg_weight = float(getattr(model, "reg_weight", 0.0))
    user_emb = getattr(model, "user_emb", None)
    item_emb = getattr(model, "item_emb", None)
    if reg_weight and isinstance(user_emb, nn.Embedding) and isinstance(item_emb, nn.Embedding):
        embeddings = [user_emb(users), item_emb(items)]
        scenario_emb = getattr(model, "scenario_emb", None)
        if isinstance(scenario_emb, nn.Embedding):
            embeddings.append(scenario_emb(scenarios))
        total = total + reg_weight * l2_penalty(*embeddings)

    structure_reg = float(getattr(model, "structure_reg", 0.0))
    if structure_reg and callable(getattr(model, "structure_penalty", None)):
        total = total + structure_reg * model.structure_penalty()
    return total


def _validate_labels(labels: np.ndarray, dataset: RecDataset) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != dataset.splits.shape:
        raise ValueError(
            f"labels must have one entry per interaction ({dataset.splits.shape[0]}), got shape {labels.shape}; "
            "build them with graphrec.eval.ctr.ctr_labels(dataset.ratings)"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must contain only 0 and 1, got values {np.unique(labels)[:10]}")
    return labels.astype(np.float32)


class CTRTrainer:
    """Adam on binary cross-entropy with logits, early stopping on validation AUC.

    Each epoch visits every training interaction once, in an order shuffled by
    a NumPy generator seeded with ``seed``. The loss of a batch is the mean
    binary cross-entropy of :func:`graphrec.models.pointwise.pair_logits`
    against the labels plus :func:`regularisation`, except for a model that
    defines ``pointwise_epoch``, which runs the epoch with its own batching and
    loss. Every ``eval_every`` epochs
    (and after the last one) the overall validation AUC is computed. Training
    stops after ``patience`` evaluations without improvement, and then the
    weights of the best evaluation are restored.
    """

    def __init__(
        self,
        config: TrainConfig,
        seed: int = 0,
        progress: bool = True,
        label: str = "model",
        eval_batch_size: int = DEFAULT_PAIR_BATCH_SIZE,
        objective: str = "ctr",
    ):
        if objective not in ("ctr", "rating"):
            raise ValueError(f"invalid objective {objective!r}; valid objectives: ctr, rating")
        self.objective = objective
        self._loss_name = "MSE" if objective == "rating" else "BCE"
        self._metric_names = ("-RMSE", "MAE") if objective == "rating" else ("AUC", "logloss")
        self.config = config
        self.rng = np.random.default_rng(seed)
        self.progress = progress
        self.label = label
        self.eval_batch_size = eval_batch_size

    def fit(self, model: Recommender, dataset: RecDataset, labels: np.ndarray) -> TrainResult:
        """Train ``model`` on the TRAIN interactions and restore its best validation epoch.

        ``labels`` contains one 0/1 label per interaction of ``dataset`` (all
        splits). A model with ``trainable = False`` is fitted with
        ``model.fit(dataset)`` and reports epoch 0 with its validation AUC.
        Raises ValueError when the labels do not match the dataset, there
        are no training interactions, or the validation labels are all one
        class (validation AUC is then undefined).
        """
        if self.objective == "rating":
            # Regression on explicit ratings: the targets are deviations from
            # the mean training rating, which evaluation adds back.
            self.offset = rating_offset(dataset)
            targets = (np.asarray(labels, dtype=np.float32) - self.offset).astype(np.float32)
        else:
            targets = _validate_labels(labels, dataset)
        valid_targets = targets[dataset.splits == VALID]
        if self.objective == "rating":
            if valid_targets.size == 0:
                raise ValueError("early stopping on validation RMSE needs validation interactions")
        elif valid_targets.size == 0 or valid_targets.min() == valid_targets.max():
            raise ValueError(
                f"early stopping on validation AUC needs positive and negative validation labels, got "
                f"{int(valid_targets.sum())} positives among {valid_targets.size} validation interactions. "
                "Check the rating threshold and the validation ratio of the split"
            )

        started = time.perf_counter()
        if not model.trainable:
            model.fit(dataset)
            valid_auc = self._validate(model, dataset, labels)[0]
            seconds = time.perf_counter() - started
            logger.info("%s: fitted without training, valid AUC %.4f, %.1f s", self.label, valid_auc, seconds)
            return TrainResult(0, valid_auc, 0, seconds, [])

        train_rows = np.flatnonzero(dataset.splits == TRAIN)
        if train_rows.size == 0:
            raise ValueError("the dataset has no training interactions")

        cfg = self.config
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        best_state = copy.deepcopy(model.state_dict())
        best_auc, best_epoch, stale = -np.inf, 0, 0
        history: list[dict[str, float]] = []
        own_epoch = callable(getattr(model, "pointwise_epoch", None))
        loss_name = f"{type(model).__name__} loss" if own_epoch else self._loss_name

        bar = tqdm(range(1, cfg.epochs + 1), desc=f"train {self.label} (CTR)", disable=not self.progress, leave=False)
        for epoch in bar:
            loss, bce = self._run_epoch(model, optimizer, dataset, targets, train_rows)
            record = {"epoch": epoch, "loss": loss, "bce": bce}
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                valid_auc, valid_logloss = self._validate(model, dataset, labels)
                record.update(valid_auc=valid_auc, valid_logloss=valid_logloss)
                if valid_auc > best_auc:
                    best_auc, best_epoch, stale = valid_auc, epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    stale += 1
                logger.info(
                    "%s epoch %d: loss %.4f (%s %.4f), valid %s %.4f, %s %.4f (best %.4f at epoch %d)",
                    self.label, epoch, loss, loss_name, bce, *self._metric_names[:1], valid_auc,
                    self._metric_names[1], valid_logloss, best_auc, best_epoch,
                )
                bar.set_postfix(loss=f"{bce:.4f}", valid=f"{valid_auc:.4f}", best=best_epoch)
            else:
                logger.info("%s epoch %d: loss %.4f (%s %.4f)", self.label, epoch, loss, loss_name, bce)
            history.append(record)
            if stale >= cfg.patience:
                logger.info("%s: early stop after epoch %d (no gain for %d evaluations)", self.label, epoch, stale)
                break
        bar.close()

        model.load_state_dict(best_state)
        # Models that cache propagated representations for score() must refresh
        # them from the restored weights.
        model.prepare_scoring()
        seconds = time.perf_counter() - started
        logger.info(
            "%s: restored epoch %d (valid %s %.4f), %.1f s",
            self.label, best_epoch, self._metric_names[0], best_auc, seconds,
        )
        return TrainResult(best_epoch, float(best_auc), len(history), seconds, history)

    def _validate(self, model: Recommender, dataset: RecDataset, labels: np.ndarray) -> tuple[float, float]:
        """Return the overall validation AUC and log loss, or minus RMSE and MAE for ratings.

        The first value is the one early stopping maximises.
        """
        if self.objective == "rating":
            overall = evaluate_rating(model, dataset, VALID, self.offset)[OVERALL]
            return -float(overall["rmse"]), float(overall["mae"])
        overall = evaluate_ctr(model, dataset, VALID, labels, self.eval_batch_size)[OVERALL]
        return float(overall["auc"]), float(overall["logloss"])

    def _run_epoch(
        self,
        model: Recommender,
        optimizer: torch.optim.Optimizer,
        dataset: RecDataset,
        targets: np.ndarray,
        train_rows: np.ndarray,
    ) -> tuple[float, float]:
        """Run one pass over the training rows and return the mean total loss and the mean BCE per batch.

        For a model that defines ``pointwise_epoch`` both values are the mean
        loss that this method returns.
        """
        model.train()
        own_epoch = getattr(model, "pointwise_epoch", None)
        if callable(own_epoch):
            epoch_loss = float(own_epoch(dataset, optimizer, self.rng, self.config.batch_size))
            return epoch_loss, epoch_loss
        order = self.rng.permutation(train_rows)
        total_loss, total_bce, batches = 0.0, 0.0, 0
        for start in range(0, len(order), self.config.batch_size):
            rows = order[start : start + self.config.batch_size]
            users = torch.from_numpy(dataset.users[rows])
            items = torch.from_numpy(dataset.items[rows])
            scenarios = torch.from_numpy(dataset.scenarios[rows])

            logits = pair_logits(model, users, items, scenarios)
            if self.objective == "rating":
                bce = nn.functional.mse_loss(logits, torch.from_numpy(targets[rows]))
            else:
                bce = nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(targets[rows]))
            loss = bce + regularisation(model, users, items, scenarios)

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach())
            total_bce += float(bce.detach())
            batches += 1
        return total_loss / batches, total_bce / batches
