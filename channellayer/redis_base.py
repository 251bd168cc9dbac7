"""What the two Redis layers share: their options, their scripts, their portal, and how they name a server.

:class:`~channellayer.redis.RedisChannelLayer` (asgi_redis's format, one server or a ring) and
:class:`~channellayer.redis_cluster.RedisClusterChannelLayer` (the hash-tagged format on a Redis
Cluster) take the same options with the same checks and defaults; each builds its clients after
this constructor has run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from .base import BaseChannelLayer
from .portal import Portal
from .redis_keyspace import Scripts, blocking_wait, check_prefix, parse_hosts

__all__ = ["DEFAULT_CONNECTION_KWARGS", "RedisLayerBase", "describe_url", "status_members"]

#: What we pass to redis-py unless ``connection_kwargs`` says otherwise. No silent retries: a
#: retried send could be delivered twice, and the error must surface within the socket timeout.
DEFAULT_CONNECTION_KWARGS: dict[str, Any] = {
    "socket_connect_timeout": 5,
    "socket_timeout": 10,
    "health_check_interval": 30,
}


def describe_url(url: object) -> str:
    """A Redis URL fit for an error message or a log line: never with its password."""
    return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", str(url))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def status_members(raw: list[Any]) -> list[str]:
    """The status index's members as text (redis-py returns bytes)."""
    return [_text(member) for member in raw]


class RedisLayerBase(BaseChannelLayer):
    """Options shared by the Redis layers: ``hosts``, ``prefix``, ``stats_prefix``, ``connection_kwargs``."""

    default_hosts: Sequence[Any] = [("localhost", 6379)]
    #: Lua scripts of this layer's format (``channellayer/lua/<script_file_prefix><name>.lua``).
    script_names: ClassVar[tuple[str, ...]] = ()
    script_file_prefix: ClassVar[str] = ""
    #: Characters a key prefix may not hold in this layer's format.
    prefix_forbidden: ClassVar[str] = ""

    def __init__(
        self,
        *,
        hosts: Sequence[Any] | None = None,
        prefix: str = "asgi:",
        stats_prefix: str = "asgi-meta:",
        connection_kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.prefix = check_prefix("prefix", prefix, self.prefix_forbidden)
        self.stats_prefix = check_prefix("stats_prefix", stats_prefix, self.prefix_forbidden)
        if connection_kwargs is not None and not isinstance(connection_kwargs, dict):
            raise ValueError(f"connection_kwargs must be a dict, not {type(connection_kwargs).__name__}")
        self.hosts = self._ring_addresses(hosts)
        self.connection_kwargs = self._connection_options(connection_kwargs or {})
        #: How long one blocking pop waits: the blocking timeout, kept under the socket timeout.
        self._wait = blocking_wait(self.blocking_timeout, self.connection_kwargs)
        self.scripts = Scripts(self.script_names, self.script_file_prefix)
        #: The event loop thread on which synchronous callers run the asyncio waiter.
        self._portal = Portal()

    @staticmethod
    def _live_announcements(members: list[str], values: list[Any]) -> list[tuple[str, str, str]]:
        """``(kind, ident, info)`` of each status member whose value key has not expired yet."""
        found = []
        for member, value in zip(members, values, strict=True):
            if value is not None:
                kind, _, ident = member.partition(":")
                found.append((kind, ident, _text(value)))
        return found

    def _ring_addresses(self, hosts: Sequence[Any] | None) -> list[Any]:
        return parse_hosts(hosts, self.default_hosts)

    def _connection_options(self, given: dict[str, Any]) -> dict[str, Any]:
        """redis-py connection options: our defaults, overridden by ``connection_kwargs``."""
        return {**DEFAULT_CONNECTION_KWARGS, **given}
