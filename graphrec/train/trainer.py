"""Mini-batch BPR training with early stopping on a validation metric."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from graphrec.data.dataset import RecDataset
from graphrec.data.split import TRAIN, VALID
from graphrec.eval.evaluator import OVERALL, evaluate_model
from graphrec.experiments.config import TrainConfig
from graphrec.models.base import Recommender
from graphrec.resources import MemoryBudget
from graphrec.train.checkpoint import (
    dataset_fingerprint,
    load_checkpoint,
    random_states,
    restore_random_states,
    save_checkpoint,
)
from graphrec.train.sampling import UniformNegativeSampler

logger = logging.getLogger(__name__)


@dataclass
class _LoopState:
    """Everything the training loop carries from one epoch to the next."""

    best_state: dict[str, torch.Tensor]
    best_score: float = -np.inf
    best_epoch: int = 0
    stale: int = 0
    epoch: int = 0
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)

    def to_payload(self, model: Recommender, optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> dict:
        return {
            "epoch": self.epoch,
            "model_state": model.state_dict(),
            "optimizer_state": optimizer.state_dict(),
            "best_state": self.best_state,
            "best_score": float(self.best_score),
            "best_epoch": self.best_epoch,
            "stale": self.stale,
            "seconds": self.seconds,
            "history": self.history,
            "random_states": random_states(rng),
        }

    @classmethod
    def from_payload(cls, payload: dict) -> "_LoopState":
        return cls(
            best_state=payload["best_state"],
            best_score=payload["best_score"],
            best_epoch=payload["best_epoch"],
            stale=payload["stale"],
            epoch=payload["epoch"],
            seconds=payload["seconds"],
            history=list(payload["history"]),
        )


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
        memory_budget: MemoryBudget | None = None,
        seed: int = 0,
        progress: bool = True,
        label: str = "model",
    ):
        self.config = config
        self.valid_metric = valid_metric
        self.ks = ks
        self.metrics = metrics
        self.eval_batch_size = eval_batch_size
        self.memory_budget = memory_budget
        self.rng = np.random.default_rng(seed)
        self.progress = progress
        self.label = label

    def fit(
        self,
        model: Recommender,
        dataset: RecDataset,
        checkpoint_dir: Path | None = None,
        resume: bool = False,
        model_name: str | None = None,
    ) -> TrainResult:
        """Train ``model`` and restore its best validation epoch.

        With ``checkpoint_dir``, ``last.pt`` (everything needed to continue)
        is written after every epoch and ``best.pt`` (the best weights) after
        every improvement. With ``resume``, training continues from
        ``last.pt`` when it exists and reaches the same result as a run that
        was never interrupted.
        """
        cfg = self.config
        train = dataset.splits == TRAIN
        users = dataset.users[train]
        items = dataset.items[train]
        scenarios = dataset.scenarios[train]
        sampler = UniformNegativeSampler(dataset.train_matrix, self.rng)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        identity = {"model": model_name or self.label, "dataset": dataset_fingerprint(dataset)}

        state = _LoopState(best_state=copy.deepcopy(model.state_dict()))
        last_path = checkpoint_dir / "last.pt" if checkpoint_dir else None
        if resume and last_path is not None and last_path.exists():
            state = self._restore(last_path, identity, model, optimizer)

        started = time.perf_counter() - state.seconds
        bar = tqdm(
            range(state.epoch + 1, cfg.epochs + 1), desc=f"train {self.label}", disable=not self.progress, leave=False
        )
        for epoch in bar:
            if state.stale >= cfg.patience:
                break
            epoch_started = time.perf_counter()
            loss = self._run_epoch(model, optimizer, sampler, users, items, scenarios, dataset)
            train_seconds = time.perf_counter() - epoch_started
            improved = self._evaluate_epoch(model, dataset, epoch, loss, state, bar)
            # Timings for benchmarks/perf: this epoch's training step, and the
            # wall time since training began, validation included.
            state.history[-1]["train_seconds"] = train_seconds
            state.history[-1]["elapsed_seconds"] = time.perf_counter() - started
            state.epoch = epoch
            state.seconds = time.perf_counter() - started
            if checkpoint_dir is not None:
                if improved:
                    save_checkpoint(checkpoint_dir / "best.pt", {**identity, "epoch": epoch, "model_state": state.best_state})
                save_checkpoint(last_path, {**identity, **state.to_payload(model, optimizer, self.rng)})
            if state.stale >= cfg.patience:
                logger.info("%s: early stop after epoch %d (no gain for %d evaluations)", self.label, epoch, state.stale)
                break
        bar.close()

        model.load_state_dict(state.best_state)
        model.prepare_scoring()
        seconds = time.perf_counter() - started
        logger.info(
            "%s: restored epoch %d (valid %s %.4f), %.1f s",
            self.label, state.best_epoch, self.valid_metric, state.best_score, seconds,
        )
        return TrainResult(state.best_epoch, float(state.best_score), len(state.history), seconds, state.history)

    def _restore(self, path: Path, identity: dict, model: Recommender, optimizer: torch.optim.Optimizer) -> "_LoopState":
        payload = load_checkpoint(path, identity["model"], identity["dataset"])
        model.load_state_dict(payload["model_state"])
        optimizer.load_state_dict(payload["optimizer_state"])
        restore_random_states(payload["random_states"], self.rng)
        state = _LoopState.from_payload(payload)
        logger.info("%s: resumed from %s after epoch %d", self.label, path, state.epoch)
        return state

    def _evaluate_epoch(self, model, dataset, epoch: int, loss: float, state: "_LoopState", bar) -> bool:
        """Log the epoch, and on evaluation epochs update the best score; return whether it improved."""
        cfg = self.config
        record = {"epoch": epoch, "loss": loss}
        improved = False
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            result = evaluate_model(
                model, dataset, VALID, self.ks, self.metrics, self.eval_batch_size,
                per_scenario=False, memory_budget=self.memory_budget,
            )
            score = result.means()[OVERALL][self.valid_metric]
            record[f"valid_{self.valid_metric}"] = score
            if score > state.best_score:
                state.best_score, state.best_epoch, state.stale = score, epoch, 0
                state.best_state = copy.deepcopy(model.state_dict())
                improved = True
            else:
                state.stale += 1
            logger.info(
                "%s epoch %d: loss %.4f, valid %s %.4f (best %.4f at epoch %d)",
                self.label, epoch, loss, self.valid_metric, score, state.best_score, state.best_epoch,
            )
            bar.set_postfix(loss=f"{loss:.4f}", valid=f"{score:.4f}", best=state.best_epoch)
        else:
            logger.info("%s epoch %d: loss %.4f", self.label, epoch, loss)
        state.history.append(record)
        return improved

    def _run_epoch(self, model, optimizer, sampler, users, items, scenarios, dataset) -> float:
        model.train()
        if model.custom_epoch:
            return float(model.train_epoch(dataset, optimizer, self.rng, self.config.batch_size))
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
