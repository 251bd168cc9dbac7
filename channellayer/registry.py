"""The backend alias table and ``get_channel_layer(backend, config)``.

Short names, our dotted paths and the legacy paths found in Channels 1 settings all resolve through
one table; anything else must be an importable ``module.Class`` / ``module:Class``. Unknown names
fail with a "did you mean". Unknown options fail before the layer is built, naming the option.
"""

from __future__ import annotations

import difflib
import inspect
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from .base import BaseChannelLayer
from .importing import import_object

__all__ = ["BACKENDS", "get_channel_layer", "resolve_backend"]

_MEMORY = "channellayer.memory:MemoryChannelLayer"
_REDIS = "channellayer.redis:RedisChannelLayer"
_SENTINEL = "channellayer.sentinel:RedisSentinelChannelLayer"
_SQLITE = "channellayer.sqlite:SQLiteChannelLayer"
_CLUSTER = "channellayer.redis_cluster:RedisClusterChannelLayer"
_RABBITMQ = "channellayer.rabbitmq:RabbitMQChannelLayer"

#: name -> "module:Class". Legacy names map to the backend that serves the same purpose today.
BACKENDS: dict[str, str] = {
    "memory": _MEMORY,
    "redis": _REDIS,
    "sentinel": _SENTINEL,
    "sqlite": _SQLITE,
    "redis-cluster": _CLUSTER,
    "channellayer.RedisClusterChannelLayer": _CLUSTER,
    "channellayer.redis_cluster.RedisClusterChannelLayer": _CLUSTER,
    "rabbitmq": _RABBITMQ,
    "channellayer.RabbitMQChannelLayer": _RABBITMQ,
    "channellayer.rabbitmq.RabbitMQChannelLayer": _RABBITMQ,
    "asgi_rabbitmq.RabbitmqChannelLayer": _RABBITMQ,
    "asgi_rabbitmq.core.RabbitmqChannelLayer": _RABBITMQ,
    "channellayer.MemoryChannelLayer": _MEMORY,
    "channellayer.RedisChannelLayer": _REDIS,
    "channellayer.RedisSentinelChannelLayer": _SENTINEL,
    "channellayer.SQLiteChannelLayer": _SQLITE,
    "channellayer.memory.MemoryChannelLayer": _MEMORY,
    "channellayer.redis.RedisChannelLayer": _REDIS,
    "channellayer.sentinel.RedisSentinelChannelLayer": _SENTINEL,
    "channellayer.sqlite.SQLiteChannelLayer": _SQLITE,
    "asgi_redis.RedisChannelLayer": _REDIS,
    "asgi_redis.core.RedisChannelLayer": _REDIS,
    "asgi_redis.RedisSentinelChannelLayer": _SENTINEL,
    "asgi_redis.sentinel.RedisSentinelChannelLayer": _SENTINEL,
    # The local layer sent normal channels over shared memory; Redis serves them from any machine.
    "asgi_redis.RedisLocalChannelLayer": _REDIS,
    "asgi_redis.local.RedisLocalChannelLayer": _REDIS,
    "asgiref.inmemory.ChannelLayer": _MEMORY,
    "asgiref.inmemory.channel_layer": _MEMORY,
    "asgi_ipc.IPCChannelLayer": _SQLITE,
    "asgi_ipc.core.IPCChannelLayer": _SQLITE,
}


def _ipc_config(config: dict[str, Any]) -> dict[str, Any]:
    """asgi_ipc named its shared memory by ``prefix``; we name a SQLite file after it."""
    config = dict(config)
    prefix = config.pop("prefix", "asgi")
    config.setdefault("path", os.path.join(tempfile.gettempdir(), f"channels-classic-{prefix}.sqlite3"))
    return config


def _local_config(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "ipc_prefix"}


def _inmemory_config(config: dict[str, Any]) -> dict[str, Any]:
    """asgiref 1.x's in-memory layer held 10 messages a channel; tests written for it expect ChannelFull at 11."""
    config = dict(config)
    config.setdefault("capacity", 10)
    return config


_ADAPTERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "asgiref.inmemory.ChannelLayer": _inmemory_config,
    "asgiref.inmemory.channel_layer": _inmemory_config,
    "asgi_ipc.IPCChannelLayer": _ipc_config,
    "asgi_ipc.core.IPCChannelLayer": _ipc_config,
    "asgi_redis.RedisLocalChannelLayer": _local_config,
    "asgi_redis.local.RedisLocalChannelLayer": _local_config,
}


def resolve_backend(backend: str | type) -> type:
    """The layer class for an alias, a known dotted path, or any importable ``module.Class``."""
    if isinstance(backend, type):
        return backend
    if not isinstance(backend, str) or not backend:
        raise TypeError(f"backend must be a name or a class, not {backend!r}")
    if backend in BACKENDS:
        found: type = import_object(BACKENDS[backend], "channel layer backend")
        return found
    if "." in backend or ":" in backend:
        try:
            found = import_object(backend, "channel layer backend")
        except (ImportError, ValueError):
            pass
        else:
            if isinstance(found, type):
                return found
    suggestions = difflib.get_close_matches(backend, BACKENDS, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(map(repr, suggestions))}?" if suggestions else ""
    raise ValueError(
        f"unknown channel layer backend {backend!r}{hint} "
        f"(short names: {', '.join(k for k in BACKENDS if '.' not in k)})"
    )


def _option_names(cls: type) -> set[str] | None:
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names.update(p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names - {"self"}
    return None


def get_channel_layer(backend: str | type = "memory", config: Mapping[str, Any] | None = None) -> BaseChannelLayer:
    """Build a layer from a backend name and a ``CONFIG`` dict (as in ``CHANNEL_LAYERS``)."""
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict of options, not {type(config).__name__}")
    options = dict(config or {})
    if isinstance(backend, str) and backend in _ADAPTERS:
        options = _ADAPTERS[backend](options)
    cls = resolve_backend(backend)
    known = _option_names(cls)
    if known is not None:
        for option in options:
            if option not in known:
                close = difflib.get_close_matches(option, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"{cls.__name__} has no option {option!r}{hint} (options: {', '.join(sorted(known))})")
    layer: BaseChannelLayer = cls(**options)
    return layer
