"""Redis Sentinel channel layer: the shard ring is a list of Sentinel *services*.

``hosts`` lists the sentinels (``(host, port)`` tuples, as asgi_redis required); ``services`` names the
monitored masters that form the ring, in order (discovered with ``SENTINEL MASTERS`` when empty). Each
shard's client is a Sentinel-managed redis-py client: every new connection asks Sentinel where the
master is, and a connection that finds a demoted master is dropped, so after a failover the layer
raises :class:`BackendUnavailable` for the calls caught mid-failover and then works against the new
master without being re-created. ``sentinel_refresh_interval`` (seconds, 0 = off) additionally
re-checks the master address that often and drops connections to a stale one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from redis.sentinel import Sentinel

from .errors import BackendUnavailable
from .redis import RedisChannelLayer

__all__ = ["RedisSentinelChannelLayer"]

T = TypeVar("T")


class RedisSentinelChannelLayer(RedisChannelLayer):
    """RedisChannelLayer whose shards are Sentinel-monitored masters."""

    default_hosts: Sequence[Any] = [("localhost", 26379)]

    def __init__(
        self,
        *,
        hosts: Sequence[Any] | None = None,
        services: Sequence[str] | None = None,
        sentinel_refresh_interval: float = 0,
        sentinel_kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if isinstance(services, str) or (services is not None and not isinstance(services, (list, tuple))):
            raise ValueError(f"services must be a list of Sentinel service names, not {services!r}")
        if (
            isinstance(sentinel_refresh_interval, bool)
            or not isinstance(sentinel_refresh_interval, (int, float))
            or sentinel_refresh_interval < 0
        ):
            raise ValueError(
                f"sentinel_refresh_interval must be a number of seconds >= 0, not {sentinel_refresh_interval!r}"
            )
        self.services = list(services or [])
        self.sentinel_refresh_interval = sentinel_refresh_interval
        self.sentinel_kwargs = dict(sentinel_kwargs or {})
        self._checked: dict[int, tuple[float, Any]] = {}
        super().__init__(hosts=hosts, **options)

    def _ring_addresses(self, hosts: Sequence[Any] | None) -> list[Any]:
        hosts = self.default_hosts if hosts is None else hosts
        if isinstance(hosts, (str, bytes)) or not isinstance(hosts, (list, tuple)) or not hosts:
            raise ValueError(f"hosts must be a non-empty list of (host, port) sentinel tuples, not {hosts!r}")
        for entry in hosts:
            if not (isinstance(entry, (list, tuple)) and len(entry) == 2):
                raise ValueError(f"sentinel hosts entry {entry!r} must be a (host, port) tuple")
        self.sentinels = [(str(h), int(p)) for h, p in hosts]
        sentinel_kwargs = {"socket_timeout": 5, "socket_connect_timeout": 5, **self.sentinel_kwargs}
        self._sentinel = Sentinel(self.sentinels, sentinel_kwargs=sentinel_kwargs)
        if not self.services:
            self.services = self._discover_services()
        return list(self.services)

    def _discover_services(self) -> list[str]:
        for client in self._sentinel.sentinels:
            try:
                masters = client.sentinel_masters()
            except redis.RedisError:
                continue
            return sorted(str(name) for name in masters)
        raise BackendUnavailable(f"no sentinel of {self.sentinels} answered SENTINEL MASTERS")

    def _make_client(self, index: int) -> redis.Redis:
        client: redis.Redis = self._sentinel.master_for(self.services[index], **self._client_kwargs())
        return client

    def _make_async_client(self, index: int) -> aioredis.Redis:
        from redis.asyncio.retry import Retry as AsyncRetry
        from redis.asyncio.sentinel import Sentinel as AsyncSentinel
        from redis.backoff import NoBackoff

        sentinel_kwargs = {"socket_timeout": 5, "socket_connect_timeout": 5, **self.sentinel_kwargs}
        sentinel = AsyncSentinel(self.sentinels, sentinel_kwargs=sentinel_kwargs)
        kwargs = {**self._client_kwargs(), "retry": AsyncRetry(NoBackoff(), 0)}
        client: aioredis.Redis = sentinel.master_for(self.services[index], **kwargs)
        # Kept so aclose() can close the sentinel connections too.
        client.channellayer_sentinel = sentinel  # type: ignore[attr-defined]
        return client

    def _describe_shard(self, index: int) -> str:
        return f"Sentinel service {self.services[index]!r} (sentinels {self.sentinels})"

    def _call(self, index: int, operation: Callable[[redis.Redis], T]) -> T:
        if self.sentinel_refresh_interval:
            self._refresh(index)
        return super()._call(index, operation)

    def _refresh(self, index: int) -> None:
        now = time.monotonic()
        checked_at, address = self._checked.get(index, (0.0, None))
        if now - checked_at < self.sentinel_refresh_interval:
            return
        try:
            current = self._sentinel.discover_master(self.services[index])
        except redis.RedisError as exc:
            raise BackendUnavailable(f"{self._describe_shard(index)}: no master: {exc}") from exc
        if address is not None and current != address:
            self._clients[index].connection_pool.disconnect()
        self._checked[index] = (now, current)
