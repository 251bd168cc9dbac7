"""Redis channel layer, byte-for-byte compatible with asgi_redis 1.4.3's layout (reference §3).

Keys, shard choice and script arguments are decided by :mod:`channellayer.redis_keyspace` (no I/O);
this module does the synchronous I/O and :mod:`channellayer.redis_async` the asyncio I/O, and the
ASGI 1 rules live in :class:`~channellayer.base.BaseChannelLayer` above both.

What is faster, inside the same format: a send (with its counters) is one script call; a receive is
one script call (pop + get + delete) when a message is waiting, and otherwise one BLPOP plus one
GET/DEL pipeline; a group send reads the group once and makes one script call per shard; flush walks
the keyspace with SCAN instead of KEYS. A blocking receive whose lists are all on one shard is one
BLPOP on the calling thread's connection; across shards it is the one asyncio waiter of
:mod:`channellayer.redis_async` (run on the layer's :class:`~channellayer.portal.Portal` for
synchronous callers), which blocks on every shard at once and releases the losers as soon as one
shard answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from hiredis import pack_command
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from .base import Prepared
from .errors import BackendFull, BackendUnavailable, ChannelFull, ChannelPaused
from .names import check_channel_name, non_local_name
from .redis_async import AsyncRedisOps, ShardAccess
from .redis_base import DEFAULT_CONNECTION_KWARGS, RedisLayerBase, describe_url, status_members
from .redis_keyspace import (
    CHANNEL_STATS_EXPIRY,
    GLOBAL_STATS_KEY,
    Keyspace,
    consistent_hash,
    parse_hosts,
)

__all__ = ["CHANNEL_STATS_EXPIRY", "DEFAULT_CONNECTION_KWARGS", "RedisChannelLayer", "consistent_hash", "parse_hosts"]

logger = logging.getLogger("channellayer")

T = TypeVar("T")


class _ScriptLinks:
    """The synchronous hot path: script calls on one connection per thread and shard, pipelined.

    redis-py's ``Redis.evalsha`` takes a pooled connection, wraps the call in a retry object and
    releases it again on every call: 76-85 µs of CPU per call here against 48-50 µs for the same
    EVALSHA written straight on a connection (measured on this machine; a worker makes two per
    message). So a thread keeps its own connection per shard and uses redis-py's public connection
    API (``send_packed_command`` / ``read_response``) on it. The connection is checked for a closed
    socket before use, as redis-py's pool does, so a restarted Redis costs nothing; a failure drops
    it. Every thread's connections are known here, so :meth:`close` closes them all.
    """

    def __init__(self, clients: list[redis.Redis]) -> None:
        self.clients = clients
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: set[Any] = set()

    def _connection(self, index: int) -> Any:
        mine: dict[int, Any] = self._local.__dict__.setdefault("connections", {})
        connection = mine.get(index)
        if connection is None:
            connection = mine[index] = self.clients[index].connection_pool.make_connection()
            with self._lock:
                self._all.add(connection)
        connection.connect()
        if connection.can_read():
            connection.disconnect()
            connection.connect()
        return connection

    def run(self, index: int, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` in one write and read every reply; an error reply comes back as its exception."""
        try:
            connection = self._connection(index)
            connection.send_packed_command([b"".join([pack_command(c) for c in commands])], check_health=False)
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as reply:  # an error reply: the connection is still in step
                    replies.append(reply)
            return replies
        except (redis.RedisError, OSError):
            self.drop(index)
            raise

    def drop(self, index: int) -> None:
        connection = self._local.__dict__.get("connections", {}).pop(index, None)
        if connection is not None:
            with self._lock:
                self._all.discard(connection)
            connection.disconnect()

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, set()
        for connection in connections:
            connection.disconnect()
        self._local = threading.local()


class RedisChannelLayer(RedisLayerBase):
    """ASGI 1 layer on one Redis or a consistent-hash ring of them (asgi_redis 1.4.3 wire format)."""

    script_names = ("send", "receive", "receive_many", "group_send")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.ring_size = len(self.hosts)
        self.keys = Keyspace(self.prefix, self.stats_prefix, self.ring_size, self.expiry, self.group_expiry)
        self._clients: list[redis.Redis] = [self._make_client(i) for i in range(self.ring_size)]
        self._links = _ScriptLinks(self._clients)
        self._aio = AsyncRedisOps(
            ShardAccess(self.keys, self.scripts, self._make_async_client, self._unavailable, self._wait)
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} hosts={self.hosts!r} prefix={self.prefix!r}>"

    # -- connections ----------------------------------------------------------------------

    def _client_kwargs(self) -> dict[str, Any]:
        return {"retry": Retry(NoBackoff(), 0), **self.connection_kwargs}

    def _make_client(self, index: int) -> redis.Redis:
        return redis.Redis.from_url(self.hosts[index], **self._client_kwargs())

    def _make_async_client(self, index: int) -> aioredis.Redis:
        kwargs = {**self._client_kwargs(), "retry": AsyncRetry(NoBackoff(), 0)}
        return aioredis.Redis.from_url(self.hosts[index], **kwargs)

    def _describe_shard(self, index: int) -> str:
        return describe_url(self.hosts[index])

    def _unavailable(self, index: int, exc: BaseException) -> BackendUnavailable:
        """The layer's error for a failure of shard ``index``: BackendFull for an OOM reply, else BackendUnavailable."""
        if isinstance(exc, redis.exceptions.OutOfMemoryError):
            return BackendFull(f"Redis at {self._describe_shard(index)} is out of memory (maxmemory): {exc}")
        return BackendUnavailable(f"Redis at {self._describe_shard(index)} failed: {exc}")

    def _call(self, index: int, operation: Callable[[redis.Redis], T]) -> T:
        """Run ``operation`` with shard ``index``'s redis-py client (everything but the hot path)."""
        try:
            return operation(self._clients[index])
        except redis.RedisError as exc:
            raise self._unavailable(index, exc) from exc

    def _error_replies_raised(self, index: int, results: list[Any]) -> list[Any]:
        for result in results:
            if isinstance(result, redis.RedisError):  # an error reply: OOM at maxmemory, READONLY, LOADING…
                raise self._unavailable(index, result)
        return results

    def _commands(self, index: int, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Run ``commands`` pipelined on this thread's connection to shard ``index``; any error is the layer's."""
        try:
            return self._error_replies_raised(index, self._links.run(index, commands))
        except (redis.RedisError, OSError) as exc:
            raise self._unavailable(index, exc) from exc

    def _command(self, index: int, command: tuple[Any, ...]) -> Any:
        return self._commands(index, [command])[0]

    def _scripts(self, index: int, name: str, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """Call script ``name`` once per ``(keys, args)`` in one round trip on this thread's connection.

        A NOSCRIPT reply means that call did nothing, so loading the script and re-sending those
        calls is safe. Any error reply or failure is the layer's BackendUnavailable / BackendFull.
        """
        sha = self.scripts.shas[name]
        commands = [("EVALSHA", sha, len(keys), *keys, *args) for keys, args in calls]
        try:
            results = self._links.run(index, commands)
            missing = [i for i, result in enumerate(results) if isinstance(result, redis.exceptions.NoScriptError)]
            if missing:
                self._links.run(index, [("SCRIPT", "LOAD", self.scripts.sources[name])])
                for i, result in zip(missing, self._links.run(index, [commands[i] for i in missing]), strict=True):
                    results[i] = result
        except (redis.RedisError, OSError) as exc:
            raise self._unavailable(index, exc) from exc
        return self._error_replies_raised(index, results)

    def _script(self, index: int, name: str, call: tuple[list[str], list[Any]]) -> Any:
        return self._scripts(index, name, [call])[0]

    def close(self) -> None:
        """Close every connection of every thread, and the portal's event loop with its connections."""
        self._portal.close(self._aio.aclose)
        self._links.close()
        for client in self._clients:
            client.close()

    # -- the asyncio extension: BaseChannelLayer's primitives on channellayer.redis_async ----

    async def _pop_async(self, names: list[str]) -> tuple[str, bytes] | None:
        return await self._aio.pop(names)

    async def _pop_batch_async(self, name: str, limit: int, max_bytes: int) -> list[tuple[str, bytes]]:
        return await self._aio.pop_batch(name, limit, max_bytes)

    async def _push_async(self, target: str, payload: bytes, capacity: int) -> None:
        await self._aio.push(target, payload, capacity)

    async def _push_many_async(self, prepared: list[Prepared]) -> list[bool]:
        return await self._aio.push_many(prepared)

    async def _group_members_async(self, group: str) -> list[str]:
        return await self._aio.group_members(group)

    async def _push_group_async(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        return await self._aio.push_group(batches)

    async def pause_async(self, channel: str, paused: bool) -> None:
        await self._aio.pause(check_channel_name(channel), non_local_name(channel), paused)

    async def aclose(self) -> None:
        await self._aio.aclose()

    # -- storage operations ----------------------------------------------------------------

    def _push(self, target: str, payload: bytes, capacity: int) -> None:
        if not self._script(self.keys.send_shard(target), "send", self.keys.send_call(target, payload, capacity)):
            raise ChannelFull(f"channel {target!r} is at its capacity of {capacity}")

    def _push_window(self, channel: str, target: str, payload: bytes, capacity: int) -> None:
        call = self.keys.send_call(target, payload, capacity, flow_channel=channel)
        result = self._script(self.keys.send_shard(target), "send", call)
        if result == -1:
            raise ChannelPaused(f"the connection behind {channel!r} is not reading; wait before sending more")
        if not result:
            raise ChannelFull(f"channel {target!r} holds {capacity} messages (a windowed send)")

    def _push_many(self, prepared: list[Prepared]) -> list[bool]:
        delivered = [False] * len(prepared)
        for index, positions in self.keys.by_send_shard(target for target, _, _ in prepared).items():
            calls = [self.keys.send_call(*prepared[position]) for position in positions]
            for position, result in zip(positions, self._scripts(index, "send", calls), strict=True):
                delivered[position] = bool(result)
        return delivered

    def _pop(self, names: list[str], block: bool) -> tuple[str, bytes] | None:
        """One script call per shard for a waiting message; then, blocking, a wait (see the module docstring).

        Where every list of ``names`` is on one shard the wait is a plain BLPOP on this thread's
        connection: there is nothing to race, and a worker woken by it pays no thread hop (measured:
        the hop costs ~100 µs of CPU per message on an idle-then-busy worker). Across shards it is
        the asyncio waiter, on the portal.
        """
        deadline = time.monotonic() + self._wait
        while True:
            plan = self.keys.receive_plan(names)
            for index, keys in plan:
                found = self._script(index, "receive", (keys, []))
                if found:
                    return self.keys.list_name(found[0]), found[1]
            if not block:
                return None
            if len(plan) > 1:
                return self._portal.call(self._aio.pop(names, first_pass=False))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            index, keys = plan[0]
            popped = self._command(index, ("BLPOP", *keys, remaining))
            if popped:
                payload = self._commands(index, [("GET", popped[1]), ("DEL", popped[1])])[0]
                if payload is not None:
                    return self.keys.list_name(popped[0]), payload

    def _exists(self, name: str) -> bool:
        index = self.keys.shard_of(name)
        return bool(self._call(index, lambda c: c.exists(self.keys.list_key(name))))

    def _group_add(self, group: str, channel: str) -> None:
        key = self.keys.group_key(group)

        def run(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.zadd(key, {channel: time.time()})
            pipe.expire(key, self.group_expiry)
            pipe.execute()

        self._call(self.keys.shard_of(group), run)

    def _group_discard(self, group: str, channel: str) -> None:
        self._call(self.keys.shard_of(group), lambda c: c.zrem(self.keys.group_key(group), channel))

    def _group_members(self, group: str) -> list[str]:
        key = self.keys.group_key(group)

        def run(client: redis.Redis) -> list[bytes]:
            pipe = client.pipeline(transaction=False)
            pipe.zremrangebyscore(key, 0, self.keys.group_expired_before(time.time()))
            pipe.zrange(key, 0, -1)
            members: list[bytes] = pipe.execute()[1]
            return members

        return [m.decode("utf8") for m in self._call(self.keys.shard_of(group), run)]

    def _push_group(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        return sum(
            int(self._script(index, "group_send", call)) for index, call in self.keys.group_calls(batches).items()
        )

    def _flush(self) -> None:
        for index in range(self.keys.ring_size):
            self._call(index, self._flush_shard)

    def _flush_shard(self, client: redis.Redis) -> None:
        for pattern in self.keys.flush_patterns():
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.unlink(*batch)
                    batch = []
            if batch:
                client.unlink(*batch)

    def _global_statistics(self) -> dict[str, int]:
        keys = self.keys.stats_keys(GLOBAL_STATS_KEY)[:2]
        totals = {"messages_count": 0, "channel_full_count": 0}
        for index in range(self.keys.ring_size):
            sent, full = self._call(index, lambda c: c.mget(keys))
            totals["messages_count"] += int(sent or 0)
            totals["channel_full_count"] += int(full or 0)
        return totals

    def channel_depths(self, channels: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """Per shard, two pipelined round trips for all ``channels``: LLEN + LINDEX 0, then PTTL of the heads.

        The oldest message is the head of a list; its age is ``expiry`` minus its key's remaining
        time to live. Each channel's entry also carries ``shards``, its depth on each shard.
        """
        targets = {channel: non_local_name(check_channel_name(channel, receive=True)) for channel in channels}
        depths: dict[str, dict[str, Any]] = {
            channel: {"depth": 0, "oldest_age": None, "shards": [0] * self.keys.ring_size} for channel in channels
        }
        for index in range(self.keys.ring_size):
            wanted = [
                channel
                for channel in channels
                if not self.keys.hashed(targets[channel]) or self.keys.shard_of(targets[channel]) == index
            ]
            if not wanted:
                continue

            def run(client: redis.Redis, wanted: list[str] = wanted) -> list[tuple[int, int]]:
                pipe = client.pipeline(transaction=False)
                for channel in wanted:
                    pipe.llen(self.keys.list_key(targets[channel]))
                    pipe.lindex(self.keys.list_key(targets[channel]), 0)
                replies = pipe.execute()
                lengths, heads = replies[0::2], replies[1::2]
                pipe = client.pipeline(transaction=False)
                for head in heads:
                    if head:
                        pipe.pttl(head)
                ttls = iter(pipe.execute() if any(heads) else [])
                return [(length, next(ttls) if head else -2) for length, head in zip(lengths, heads, strict=True)]

            for channel, (length, ttl) in zip(wanted, self._call(index, run), strict=True):
                entry = depths[channel]
                entry["depth"] += length
                entry["shards"][index] = length
                if ttl >= 0:
                    age = max(0.0, self.expiry - ttl / 1000)
                    entry["oldest_age"] = max(entry["oldest_age"] or 0.0, age)
        return depths

    def _announce(self, kind: str, ident: str, info: str, ttl: float) -> None:
        # One key per process (its TTL is the heartbeat's life) and an index scored by expiry, so the
        # reader needs neither KEYS nor SCAN; both live on shard 0. asgi_redis never uses "<prefix>:status".
        member = f"{kind}:{ident}"
        expires = time.time() + ttl

        def run(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.set(self.keys.status_key(member), info, px=max(1, int(ttl * 1000)))
            pipe.zadd(self.keys.status_index(), {member: expires})
            pipe.zremrangebyscore(self.keys.status_index(), "-inf", time.time())
            pipe.expire(self.keys.status_index(), 86400)  # stale members go at the next announce
            pipe.execute()

        self._call(0, run)

    def _announcements(self) -> list[tuple[str, str, str]]:
        def run(client: redis.Redis) -> list[tuple[str, str, str]]:
            members = status_members(client.zrangebyscore(self.keys.status_index(), time.time(), "+inf"))
            return (
                self._live_announcements(members, client.mget([self.keys.status_key(member) for member in members]))
                if members
                else []
            )

        return self._call(0, run)

    def _channel_statistics(self, target: str) -> dict[str, int | float]:
        shards = [self.keys.shard_of(target)] if self.keys.hashed(target) else range(self.keys.ring_size)
        stats: dict[str, int | float] = {"messages_count": 0, "channel_full_count": 0, "messages_pending": 0}
        oldest = 0
        for index in shards:

            def run(client: redis.Redis) -> list[Any]:
                pipe = client.pipeline(transaction=False)
                pipe.mget(self.keys.stats_keys(target)[:2])
                pipe.llen(self.keys.list_key(target))
                pipe.lindex(self.keys.list_key(target), 0)
                counters, pending, first = pipe.execute()
                ttl = client.ttl(first) if first else -2
                return [counters, pending, ttl]

            (sent, full), pending, ttl = self._call(index, run)
            stats["messages_count"] += int(sent or 0)
            stats["channel_full_count"] += int(full or 0)
            stats["messages_pending"] += pending
            if ttl >= 0:
                oldest = max(oldest, self.expiry - ttl)
        if stats["messages_pending"]:
            stats["messages_max_age"] = oldest
        return stats
