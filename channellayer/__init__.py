"""ASGI 1 channel layers: memory, Redis (asgi_redis 1.4.3 wire format; sharded; Sentinel), SQLite."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import BaseChannelLayer
from .errors import (
    BackendFull,
    BackendUnavailable,
    ChannelFull,
    ChannelLayerError,
    ChannelPaused,
    InvalidMessage,
    InvalidName,
    MessageTooLarge,
)
from .memory import MemoryChannelLayer
from .registry import BACKENDS, get_channel_layer, resolve_backend

if TYPE_CHECKING:
    from .rabbitmq import RabbitMQChannelLayer
    from .redis import RedisChannelLayer
    from .redis_cluster import RedisClusterChannelLayer
    from .sentinel import RedisSentinelChannelLayer
    from .sqlite import SQLiteChannelLayer

__all__ = [
    "BACKENDS",
    "BackendUnavailable",
    "BackendFull",
    "BaseChannelLayer",
    "ChannelFull",
    "ChannelLayerError",
    "ChannelPaused",
    "InvalidMessage",
    "InvalidName",
    "MemoryChannelLayer",
    "MessageTooLarge",
    "RabbitMQChannelLayer",
    "RedisChannelLayer",
    "RedisClusterChannelLayer",
    "RedisSentinelChannelLayer",
    "SQLiteChannelLayer",
    "get_channel_layer",
    "resolve_backend",
]

_LAZY = {
    "RabbitMQChannelLayer": "channellayer.rabbitmq",
    "RedisChannelLayer": "channellayer.redis",
    "RedisClusterChannelLayer": "channellayer.redis_cluster",
    "RedisSentinelChannelLayer": "channellayer.sentinel",
    "SQLiteChannelLayer": "channellayer.sqlite",
}


def __getattr__(name: str) -> Any:
    # Backends import their drivers (redis, sqlite3) only when asked for.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'channellayer' has no attribute {name!r}")
