"""Model registry and the typed hyper-parameters each model declares."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any, Callable, TypeVar

import dgl

from graphrec.data.dataset import RecDataset
from graphrec.errors import ConfigError
from graphrec.models.base import Recommender

ModelT = TypeVar("ModelT", bound=type[Recommender])
MODELS: dict[str, type[Recommender]] = {}


def register_model(name: str) -> Callable[[ModelT], ModelT]:
    """Register a model class under the name configs use."""

    def wrap(cls: ModelT) -> ModelT:
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered by {MODELS[name].__name__}")
        MODELS[name] = cls
        return cls

    return wrap


def get_model_class(name: str) -> type[Recommender]:
    _load_builtin_models()
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def hyperparameters(cls: type[Recommender]) -> dict[str, inspect.Parameter]:
    """Return the keyword-only constructor parameters of a model class."""
    signature = inspect.signature(cls.__init__)
    return {
        name: p for name, p in signature.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def build_model(name: str, params: dict[str, Any], dataset: RecDataset, graph: dgl.DGLGraph) -> Recommender:
    """Instantiate a registered model; ``params`` must already be validated."""
    return get_model_class(name)(dataset, graph, **params)


def _load_builtin_models() -> None:
    """Import every module of :mod:`graphrec.models`; importing a module registers its classes."""
    import graphrec.models as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
