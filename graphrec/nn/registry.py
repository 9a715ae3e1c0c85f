"""Registry of message-passing layers, looked up by the name used in configs."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, TypeVar

from torch import nn

from graphrec.errors import ConfigError

LayerT = TypeVar("LayerT", bound=type[nn.Module])
LAYERS: dict[str, type[nn.Module]] = {}


def register_layer(name: str) -> Callable[[LayerT], LayerT]:
    """Register a layer class under ``name`` (a class decorator)."""

    def wrap(cls: LayerT) -> LayerT:
        if name in LAYERS:
            raise ValueError(f"layer {name!r} is already registered by {LAYERS[name].__name__}")
        LAYERS[name] = cls
        return cls

    return wrap


def get_layer(name: str) -> type[nn.Module]:
    _load_builtin_layers()
    if name not in LAYERS:
        raise ConfigError(f"unknown layer {name!r}; valid layers: {', '.join(sorted(LAYERS))}")
    return LAYERS[name]


def _load_builtin_layers() -> None:
    """Import every module of :mod:`graphrec.nn`; importing a module registers its classes."""
    import graphrec.nn as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
