"""Registry of message-passing layers, looked up by the name used in configs."""

from __future__ import annotations

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
    # Importing the modules registers their classes.
    from graphrec.nn import lightgcn, scenario  # noqa: F401
