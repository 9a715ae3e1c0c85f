"""Hyper-parameter search: grid search and Bayesian optimisation (optuna's TPE).

Each model of a config declares its search space under ``search``. A key is a
model hyper-parameter or ``train.<setting>``. A value is either a list of
candidates or a range ``{low, high, log, type}``, and ranges need Bayesian
search. Every model gets the same trial budget. Trials are selected on the
validation split only: the runner also computes test metrics, but they never
enter a trial's value or the choice of the best trial. With ``folds`` above
1, the data is split into that many per-user folds (``kfold``). A trial is
then trained once per fold and scored by its mean validation value.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import logging
import math
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from graphrec.data.dataset import RecDataset
from graphrec.errors import ConfigError
from graphrec.experiments.config import BenchmarkConfig, ModelConfig, TrainConfig, _check_type, validate_semantics
from graphrec.io import atomic_write_text

logger = logging.getLogger(__name__)

METHODS = ("grid", "bayes")
TRIAL_COLUMNS = ["model", "trial", "params", "value", "fold_values", "seconds"]


@dataclass(frozen=True)
class Dimension:
    """One searched setting: a list of candidates, or a numeric range."""

    key: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False


@dataclass
class Trial:
    """One evaluated setting of a model."""

    model: str
    number: int
    params: dict[str, Any]
    value: float
    fold_values: list[float]
    seconds: float

    def row(self) -> dict[str, Any]:
        return {
            "model": self.model, "trial": self.number, "params": json.dumps(self.params, sort_keys=True),
            "value": self.value, "fold_values": json.dumps(self.fold_values), "seconds": round(self.seconds, 3),
        }


@dataclass
class Objective:
    """The score of a trial: a validation metric and whether larger is better."""

    metric: str
    maximize: bool = True

    def better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b


def objective_for(config: BenchmarkConfig) -> Objective:
    """Return the validation metric that selects trials under the config's protocol."""
    kind = config.protocol.kind
    if kind == "ctr":
        return Objective("auc", maximize=True)
    if kind == "rating":
        return Objective("rmse", maximize=False)
    return Objective(config.protocol.valid_metric, maximize=True)


def parse_search_space(model: ModelConfig, where: str, hyperparameters: dict[str, type]) -> list[Dimension]:
    """Validate ``model.search`` against the model's hyper-parameters and the train settings."""
    train_fields = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    train_hints = typing.get_type_hints(TrainConfig)
    dimensions = []
    for key, spec in model.search.items():
        if key.startswith("train."):
            name = key.removeprefix("train.")
            if name not in train_fields:
                raise ConfigError(
                    f"{where}.search: unknown key {key!r}; train settings: {', '.join('train.' + n for n in train_fields)}"
                )
            annotation = train_hints[name]
        elif key in hyperparameters:
            annotation = hyperparameters[key]
        else:
            raise ConfigError(
                f"{where}.search: unknown key {key!r}; hyper-parameters of {model.name}: "
                f"{', '.join(hyperparameters) or 'none'}, or train.<setting>"
            )
        dimensions.append(_dimension(key, spec, annotation, f"{where}.search.{key}"))
    return dimensions


def _dimension(key: str, spec: Any, annotation: Any, where: str) -> Dimension:
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: the list of candidates is empty; give at least one value")
        return Dimension(key, choices=tuple(_check_type(v, annotation, where) for v in spec))
    if isinstance(spec, dict):
        unknown = set(spec) - {"low", "high", "log", "type"}
        if unknown or "low" not in spec or "high" not in spec:
            raise ConfigError(
                f"{where}: a range needs 'low' and 'high' (optional 'log', 'type'), got keys {sorted(spec)}"
            )
        low, high = spec["low"], spec["high"]
        if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high):
            raise ConfigError(f"{where}: a range needs numbers with low < high, got low={low!r}, high={high!r}")
        integer = spec.get("type", "int" if annotation is int else "float") == "int"
        if bool(spec.get("log", False)) and low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0, got {low!r}")
        return Dimension(key, low=float(low), high=float(high), log=bool(spec.get("log", False)), integer=integer)
    raise ConfigError(f"{where}: expected a list of candidates or a range {{low, high}}, got {spec!r}")


def grid_points(dimensions: list[Dimension], budget: int, seed: int) -> list[dict[str, Any]]:
    """Return the grid, or a seeded random subset of ``budget`` points when the grid is larger."""
    ranged = [d.key for d in dimensions if d.choices is None]
    if not dimensions:
        return []
    if ranged:
        raise ConfigError(
            f"grid search needs lists of candidates, but {', '.join(ranged)} are ranges; "
            "list the values or use --method bayes"
        )
    points = [dict(zip([d.key for d in dimensions], values)) for values in itertools.product(*(d.choices for d in dimensions))]
    if len(points) > budget:
        chosen = np.random.default_rng(seed).choice(len(points), size=budget, replace=False)
        logger.warning("grid of %d points exceeds the budget of %d trials; evaluating a seeded random subset", len(points), budget)
        points = [points[i] for i in sorted(chosen)]
    return points


def apply_params(config: BenchmarkConfig, index: int, params: dict[str, Any]) -> BenchmarkConfig:
    """Return a one-model config with ``params`` set on model ``index``, validated again."""
    trial = copy.deepcopy(config)
    model = trial.models[index]
    for key, value in params.items():
        if key.startswith("train."):
            model.train[key.removeprefix("train.")] = value
        else:
            model.params[key] = value
    model.search = {}
    trial.models = [model]
    trial.seeds = 1
    trial.significance.ours = []
    validate_semantics(trial)
    return trial


@dataclass
class TuneResult:
    """All trials of every model and each model's best one."""

    trials: list[Trial] = field(default_factory=list)
    best: dict[str, Trial] = field(default_factory=dict)


class Tuner:
    """Search each model's space with the same trial budget and keep the best validation score.

    ``datasets`` contains one prepared dataset per fold (one without folds).
    ``on_trial`` is called after every trial, so results can be saved as
    they arrive.
    """

    def __init__(
        self,
        config: BenchmarkConfig,
        datasets: list[RecDataset],
        method: str,
        budget: int,
        progress: bool = True,
        on_trial: Callable[[TuneResult], None] | None = None,
    ):
        if method not in METHODS:
            raise ConfigError(f"unknown search method {method!r}; valid methods: {', '.join(METHODS)}")
        if budget < 1:
            raise ConfigError(f"the trial budget must be at least 1, got {budget}")
        self.config = config
        self.datasets = datasets
        self.method = method
        self.budget = budget
        self.progress = progress
        self.on_trial = on_trial
        self.objective = objective_for(config)
        self.result = TuneResult()

    def run(self) -> TuneResult:
        # Check every search space before the first trial, so a typo fails fast.
        spaces = [self._space(index) for index in range(len(self.config.models))]
        if self.method == "grid":
            points = [grid_points(dimensions, self.budget, self.config.protocol.seed) for dimensions in spaces]

        for index, model in enumerate(self.config.models):
            if not spaces[index]:
                logger.info("%s declares no search space: one trial with its configured values", model.display_name)
                self._evaluate(index, {})
            elif self.method == "grid":
                for point in points[index]:
                    self._evaluate(index, point)
            else:
                self._bayes(index, spaces[index])
        return self.result

    def _space(self, index: int) -> list[Dimension]:
        from graphrec.models.registry import get_model_class, hyperparameters

        model = self.config.models[index]
        cls = get_model_class(model.name)
        hints = typing.get_type_hints(cls.__init__)
        allowed = {name: hints[name] for name in hyperparameters(cls)}
        return parse_search_space(model, f"models[{index}]", allowed)

    def _bayes(self, index: int, dimensions: list[Dimension]) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=self.config.protocol.seed)
        study = optuna.create_study(direction="maximize" if self.objective.maximize else "minimize", sampler=sampler)

        def objective(trial: "optuna.Trial") -> float:
            params = {}
            for d in dimensions:
                if d.choices is not None:
                    # optuna stores categorical choices by index, which keeps any value type.
                    params[d.key] = d.choices[trial.suggest_int(f"{d.key}#index", 0, len(d.choices) - 1)]
                elif d.integer:
                    params[d.key] = trial.suggest_int(d.key, int(d.low), int(d.high), log=d.log)
                else:
                    params[d.key] = trial.suggest_float(d.key, d.low, d.high, log=d.log)
            return self._evaluate(index, params).value

        study.optimize(objective, n_trials=self.budget)

    def _evaluate(self, index: int, params: dict[str, Any]) -> Trial:
        from graphrec.experiments.runner import run_benchmark

        label = self.config.models[index].display_name
        trial_config = apply_params(self.config, index, params)
        started = time.perf_counter()
        fold_values = []
        bar = tqdm(self.datasets, desc=f"tune {label}", disable=not self.progress or len(self.datasets) == 1, leave=False)
        for dataset in bar:
            rows = run_benchmark(trial_config, dataset, progress=False)
            fold_values.append(self._valid_value(rows, label))
        number = sum(1 for t in self.result.trials if t.model == label)
        trial = Trial(label, number, params, float(np.mean(fold_values)), fold_values, time.perf_counter() - started)
        self.result.trials.append(trial)
        best = self.result.best.get(label)
        if best is None or self.objective.better(trial.value, best.value):
            self.result.best[label] = trial
        logger.info(
            "%s trial %d %s: valid %s %.4f (best %.4f)",
            label, number, json.dumps(params, sort_keys=True), self.objective.metric, trial.value,
            self.result.best[label].value,
        )
        if self.on_trial is not None:
            self.on_trial(self.result)
        return trial

    def _valid_value(self, rows: pd.DataFrame, label: str) -> float:
        chosen = rows[(rows["split"] == "valid") & (rows["scenario"] == "all") & (rows["metric"] == self.objective.metric)]
        if chosen.empty:
            raise ConfigError(
                f"{label}: no valid {self.objective.metric} in the run's metrics; set protocol.valid_metric "
                f"to a metric the protocol computes"
            )
        value = float(chosen["value"].iloc[0])
        if not math.isfinite(value):
            logger.warning("%s: valid %s is %s", label, self.objective.metric, value)
        return value


def best_config(config: BenchmarkConfig, result: TuneResult) -> dict[str, Any]:
    """Return the config as a mapping with every model's best setting filled in and no search spaces."""
    tuned = copy.deepcopy(config)
    for model in tuned.models:
        trial = result.best.get(model.display_name)
        if trial is None:
            continue
        for key, value in trial.params.items():
            if key.startswith("train."):
                model.train[key.removeprefix("train.")] = value
            else:
                model.params[key] = value
        model.search = {}
    return dataclasses.asdict(tuned)


def summary_markdown(config: BenchmarkConfig, result: TuneResult, method: str, budget: int, folds: int) -> str:
    """Return a Markdown table of each model's search space, trial count and best setting."""
    objective = objective_for(config)
    lines = [
        f"Search: {method}, budget {budget} trials per model, "
        f"{'mean over ' + str(folds) + ' folds of ' if folds > 1 else ''}valid {objective.metric} "
        f"({'higher' if objective.maximize else 'lower'} is better).",
        "",
        "| model | search space | trials | best setting | valid " + objective.metric + " |",
        "|---|---|---:|---|---:|",
    ]
    for model in config.models:
        label = model.display_name
        trials = [t for t in result.trials if t.model == label]
        best = result.best.get(label)
        space = json.dumps(model.search, sort_keys=True) if model.search else "none"
        setting = json.dumps(best.params, sort_keys=True) if best and best.params else "as configured"
        value = f"{best.value:.4f}" if best else "n/a"
        lines.append(f"| {label} | `{space}` | {len(trials)} | `{setting}` | {value} |")
    return "\n".join(lines) + "\n"
