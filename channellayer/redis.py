"""Redis channel layer, byte-for-byte compatible with asgi_redis 1.4.3's layout (reference §3).

Keys: a LIST ``<prefix><channel>`` of message-key names (TTL expiry+1), each message a STRING
``<prefix><32 hex>`` (TTL expiry) of msgpack (optionally Fernet); groups are ZSETs
``<prefix>:group:<name>`` scored by add time; counters live under ``stats_prefix``. Process-specific
and ``?`` channels and groups pick a shard with asgi_redis's CRC32 consistent hash; normal channels
are sent round-robin, so a legacy process and this one can share a ring.

What is faster, inside the same format: a send (with its counters) is one script call; a receive is
one script call (pop + get + delete) when a message is waiting, and otherwise one BLPOP plus one
GET/DEL pipeline; a group send reads the group once and makes one script call per shard; flush walks
the keyspace with SCAN instead of KEYS.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import itertools
import logging
import os
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from .base import BaseChannelLayer, Prepared
from .errors import BackendFull, BackendUnavailable, ChannelFull, ChannelPaused
from .names import check_channel_name, non_local_name
from .redis_async import AsyncRedisOps

__all__ = ["RedisChannelLayer", "consistent_hash", "parse_hosts"]

logger = logging.getLogger("channellayer")

T = TypeVar("T")

GLOBAL_STATS_KEY = "#global#"
CHANNEL_STATS_EXPIRY = 3600
GLOBAL_STATS_EXPIRY = 86400

#: What we pass to redis-py unless ``connection_kwargs`` says otherwise. No silent retries: a
#: retried send could be delivered twice, and the error must surface within the socket timeout.
DEFAULT_CONNECTION_KWARGS: dict[str, Any] = {
    "socket_connect_timeout": 5,
    "socket_timeout": 10,
    "health_check_interval": 30,
}


_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is an optional extra
    _hiredis_pack = None


def _blpop(client: redis.Redis, keys: list[str], wait: float) -> Any:
    return client.blpop(keys, timeout=wait)


def _script_source(name: str) -> str:
    return resources.files("channellayer").joinpath("lua").joinpath(name).read_text(encoding="utf8")


def consistent_hash(value: str, ring_size: int) -> int:
    """asgi_redis's shard index: the low 12 bits of CRC32, cut into ``ring_size`` equal ranges."""
    if ring_size == 1:
        return 0
    return int((binascii.crc32(value.encode("utf8")) & 0xFFF) / (4096 / float(ring_size)))


def parse_hosts(hosts: object, default: Sequence[Any]) -> list[str]:
    """Turn asgi_redis ``hosts`` (tuples and/or URLs) into a list of redis URLs, in ring order."""
    if hosts is None:
        hosts = default
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, (list, tuple)):
        raise ValueError(
            f"hosts must be a list of (host, port) tuples or redis:// URLs, not {type(hosts).__name__} "
            f"{hosts!r}; wrap a single host in a list"
        )
    if not hosts:
        raise ValueError("hosts is an empty list")
    urls = []
    for entry in hosts:
        if isinstance(entry, str):
            if not entry.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(f"hosts entry {entry!r} must be a redis://, rediss:// or unix:// URL")
            urls.append(entry)
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            host, port = entry
            host = f"[{host}]" if ":" in str(host) else host
            urls.append(f"redis://{host}:{int(port)}/0")
        else:
            raise ValueError(f"hosts entry {entry!r} must be a (host, port) tuple or a URL")
    return urls


class RedisChannelLayer(BaseChannelLayer):
    """ASGI 1 layer on one Redis or a consistent-hash ring of them (asgi_redis 1.4.3 wire format)."""

    default_hosts: Sequence[Any] = [("localhost", 6379)]

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
        for name, value in (("prefix", prefix), ("stats_prefix", stats_prefix)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty str, not {value!r}")
        if connection_kwargs is not None and not isinstance(connection_kwargs, dict):
            raise ValueError(f"connection_kwargs must be a dict, not {type(connection_kwargs).__name__}")
        self.prefix = prefix
        self.stats_prefix = stats_prefix
        self.connection_kwargs = {**DEFAULT_CONNECTION_KWARGS, **(connection_kwargs or {})}
        socket_timeout = self.connection_kwargs.get("socket_timeout")
        # A blocking pop must return before the socket gives up on it.
        self._wait = self.blocking_timeout if not socket_timeout else min(self.blocking_timeout, socket_timeout * 0.8)
        self.hosts = self._ring_addresses(hosts)
        self.ring_size = len(self.hosts)
        self._clients: list[redis.Redis] = [self._make_client(i) for i in range(self.ring_size)]
        self._send_cycle = itertools.cycle(range(self.ring_size))
        self._receive_cycle = itertools.cycle(range(self.ring_size))
        self._sources = {
            name: _script_source(f"{name}.lua") for name in ("send", "receive", "receive_many", "group_send")
        }
        self._scripts = [
            {name: client.register_script(src) for name, src in self._sources.items()} for client in self._clients
        ]
        self._shas = {name: hashlib.sha1(src.encode("utf8")).hexdigest() for name, src in self._sources.items()}
        self._pinned = threading.local()
        self._aio = AsyncRedisOps(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} hosts={self.hosts!r} prefix={self.prefix!r}>"

    # -- connections ----------------------------------------------------------------------

    def _ring_addresses(self, hosts: Sequence[Any] | None) -> list[Any]:
        return parse_hosts(hosts, self.default_hosts)

    def _client_kwargs(self) -> dict[str, Any]:
        return {"retry": Retry(NoBackoff(), 0), **self.connection_kwargs}

    def _make_client(self, index: int) -> redis.Redis:
        return redis.Redis.from_url(self.hosts[index], **self._client_kwargs())

    def _make_async_client(self, index: int) -> aioredis.Redis:
        kwargs = {**self._client_kwargs(), "retry": AsyncRetry(NoBackoff(), 0)}
        return aioredis.Redis.from_url(self.hosts[index], **kwargs)

    # -- the asyncio extension (channellayer.redis_async) ------------------------------------

    async def receive_async(self, channels: Sequence[str]) -> tuple[str | None, dict[str, Any] | None]:
        return await self._aio.receive(channels)

    async def receive_batch_async(
        self, channel: str, limit: int = 64, max_bytes: int = 1 << 20
    ) -> list[tuple[str, dict[str, Any]]]:
        return await self._aio.receive_batch(channel, limit, max_bytes)

    async def pause_async(self, channel: str, paused: bool) -> None:
        await self._aio.pause(channel, paused)

    async def send_async(self, channel: str, message: dict[str, Any]) -> None:
        await self._aio.send(channel, message)

    async def send_many_async(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> list[bool]:
        return await self._aio.send_many(messages)

    async def send_group_async(self, group: str, message: dict[str, Any]) -> int:
        return await self._aio.send_group(group, message)

    async def aclose(self) -> None:
        await self._aio.aclose()

    def _describe_shard(self, index: int) -> str:
        # Never put a password into an error message or a log line.
        return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", str(self.hosts[index]))

    def _unavailable(self, index: int, exc: BaseException) -> BackendUnavailable:
        """The layer's error for a failure of shard ``index``: BackendFull for an OOM reply, else BackendUnavailable."""
        if isinstance(exc, redis.exceptions.OutOfMemoryError):
            return BackendFull(f"Redis at {self._describe_shard(index)} is out of memory (maxmemory): {exc}")
        return BackendUnavailable(f"Redis at {self._describe_shard(index)} failed: {exc}")

    def _call(self, index: int, operation: Callable[[redis.Redis], T]) -> T:
        try:
            return operation(self._clients[index])
        except redis.RedisError as exc:
            raise self._unavailable(index, exc) from exc

    def _run_script(self, index: int, name: str, keys: list[str], args: list[Any] | tuple[()] = ()) -> Any:
        """Hot path: run a script on a connection pinned to this thread, skipping the pool per call.

        The connection is checked for a closed socket before use (as redis-py's pool does), so a
        restarted Redis costs nothing; a NOSCRIPT reply means nothing ran, so loading and retrying
        is safe. Any other failure drops the connection and raises BackendUnavailable.
        """
        pinned: dict[int, Any] = self._pinned.__dict__.setdefault("connections", {})
        script = self._scripts[index][name]
        try:
            connection = pinned.get(index)
            if connection is None:
                connection = pinned[index] = self._clients[index].connection_pool.make_connection()
            connection.connect()
            if connection.can_read():
                connection.disconnect()
                connection.connect()
            command = ("EVALSHA", script.sha, len(keys), *keys, *args)
            packed = _hiredis_pack(command) if _hiredis_pack is not None else connection.pack_command(*command)
            connection.send_packed_command([packed] if isinstance(packed, bytes) else packed, check_health=False)
            try:
                return connection.read_response()
            except redis.exceptions.NoScriptError:
                script.sha = self._clients[index].script_load(script.script)
                connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
                return connection.read_response()
        except redis.exceptions.OutOfMemoryError as exc:
            raise self._unavailable(index, exc) from exc  # an error reply: the connection is still in step
        except (redis.RedisError, OSError) as exc:
            dropped = pinned.pop(index, None)
            if dropped is not None:
                dropped.disconnect()
            raise self._unavailable(index, exc) from exc

    def close(self) -> None:
        for connection in getattr(self._pinned, "connections", {}).values():
            connection.disconnect()
        for client in self._clients:
            client.close()

    # -- naming ---------------------------------------------------------------------------

    def _hashed(self, target: str) -> bool:
        return "!" in target or "?" in target

    @functools.lru_cache(maxsize=8192)  # noqa: B019 - bounded, and layers live as long as the process
    def _shard_of(self, name: str) -> int:
        return consistent_hash(name, self.ring_size)

    def _send_shard(self, target: str) -> int:
        return self._shard_of(target) if self._hashed(target) else next(self._send_cycle)

    def _message_key(self) -> str:
        return self.prefix + os.urandom(16).hex()

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - bounded; names repeat
    def _stats_keys(self, target: str) -> list[str]:
        s = self.stats_prefix
        return [
            f"{s}{target}:messages_count",
            f"{s}{target}:channel_full_count",
            f"{s}{GLOBAL_STATS_KEY}:messages_count",
            f"{s}{GLOBAL_STATS_KEY}:channel_full_count",
        ]

    def _stats_ttl(self, targets: Iterable[str]) -> int:
        """TTL of the per-channel counters: an hour for named channels (a fixed set), but only as long as
        a message for process-specific and single-reader channels: there is one of those per body
        stream (``http.request.body?…``), and an hour's worth of their counters would pile up."""
        return self.expiry + 1 if all(self._hashed(t) for t in targets) else CHANNEL_STATS_EXPIRY

    def _send_args(self, target: str, payload: bytes, capacity: int) -> tuple[list[str], list[Any]]:
        keys = [self._message_key(), self.prefix + target, *self._stats_keys(target)]
        return keys, [payload, self.expiry, capacity, self._stats_ttl((target,)), GLOBAL_STATS_EXPIRY]

    def _receive_plan(self, names: list[str]) -> list[tuple[int, list[str]]]:
        """Which list keys to try on which shard, starting at a rotating shard."""
        normal = [self.prefix + n for n in names if not self._hashed(n)]
        by_shard: dict[int, list[str]] = {}
        for name in names:
            if self._hashed(name):
                by_shard.setdefault(self._shard_of(name), []).append(self.prefix + name)
        start = next(self._receive_cycle)
        plan = []
        for offset in range(self.ring_size):
            index = (start + offset) % self.ring_size
            keys = by_shard.get(index, []) + normal
            if keys:
                random.shuffle(keys)
                plan.append((index, keys))
        return plan

    def _group_key(self, group: str) -> str:
        return f"{self.prefix}:group:{group}"

    def _group_script_args(self, batches: dict[str, tuple[int, list[bytes]]]) -> dict[int, tuple[list[str], list[Any]]]:
        per_shard: dict[int, tuple[list[str], list[Any]]] = {}
        ttl = self._stats_ttl(batches)  # members are nearly always reply channels
        for target, (capacity, payloads) in batches.items():
            index = self._send_shard(target)
            if index not in per_shard:
                per_shard[index] = (
                    [],
                    [self.expiry, self.stats_prefix, len(self.prefix), ttl, GLOBAL_STATS_EXPIRY],
                )
            keys, args = per_shard[index]
            keys.append(self.prefix + target)
            keys.extend(self._message_key() for _ in payloads)
            args.extend((capacity, len(payloads)))
            args.extend(payloads)
        return per_shard

    def _strip(self, list_key: bytes | str) -> str:
        key = list_key.decode("utf8") if isinstance(list_key, bytes) else list_key
        return key[len(self.prefix) :]

    # -- storage operations ----------------------------------------------------------------

    def _push(self, target: str, payload: bytes, capacity: int) -> None:
        index = self._send_shard(target)
        keys, args = self._send_args(target, payload, capacity)
        if not self._run_script(index, "send", keys, args):
            raise ChannelFull(f"channel {target!r} is at its capacity of {capacity}")

    def _flow_key(self, channel: str) -> str:
        # ``::`` as in group keys: no channel name contains ':', so no list key can collide.
        return f"{self.prefix}:flow:{channel}"

    def _push_window(self, channel: str, target: str, payload: bytes, capacity: int) -> None:
        index = self._send_shard(target)
        keys, args = self._send_args(target, payload, capacity)
        result = self._run_script(index, "send", [*keys, self._flow_key(channel)], args)
        if result == -1:
            raise ChannelPaused(f"the connection behind {channel!r} is not reading; wait before sending more")
        if not result:
            raise ChannelFull(f"channel {target!r} holds {capacity} messages (a windowed send)")

    def _push_many(self, prepared: list[Prepared]) -> list[bool]:
        by_shard: dict[int, list[int]] = {}
        for position, (target, _, _) in enumerate(prepared):
            by_shard.setdefault(self._send_shard(target), []).append(position)
        delivered = [False] * len(prepared)
        for index, positions in by_shard.items():

            def run(client: redis.Redis, index: int = index, positions: list[int] = positions) -> list[Any]:
                pipe = client.pipeline(transaction=False)
                for position in positions:
                    keys, args = self._send_args(*prepared[position])
                    self._scripts[index]["send"](keys=keys, args=args, client=pipe)
                return pipe.execute()

            for position, result in zip(positions, self._call(index, run), strict=True):
                delivered[position] = bool(result)
        return delivered

    def _pop(self, names: list[str], block: bool) -> tuple[str, bytes] | None:
        deadline = time.monotonic() + self._wait
        while True:
            plan = self._receive_plan(names)
            for index, keys in plan:
                found = self._run_script(index, "receive", keys)
                if found:
                    return self._strip(found[0]), found[1]
            remaining = deadline - time.monotonic()
            if not block or remaining <= 0:
                return None
            # With a ring, waits are kept short so a losing shard's waiter never lingers long.
            popped = self._wait_any(plan, remaining if len(plan) == 1 else min(remaining, 1.0))
            if popped:
                index, list_key, message_key = popped
                payload = self._call(index, functools.partial(self._take, message_key=message_key))
                if payload is not None:
                    return self._strip(list_key), payload

    def _wait_any(self, plan: list[tuple[int, list[str]]], wait: float) -> tuple[int, bytes, bytes] | None:
        """Block until any shard in ``plan`` has a message: one BLPOP per shard, concurrently.

        The first pop wins. A shard whose BLPOP also returned puts its message key back at the head
        of its list (the body was not read), so nothing is lost or delivered twice, and no shard
        waits behind another: a message sent to any shard wakes the receiver at once.
        """
        if len(plan) == 1:
            index, keys = plan[0]
            popped = self._call(index, functools.partial(_blpop, keys=keys, wait=wait))
            return (index, *popped) if popped else None
        lock = threading.Lock()
        outcomes: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        claimed: list[bool] = []

        def waiter(index: int, keys: list[str]) -> None:
            try:
                popped = self._call(index, functools.partial(_blpop, keys=keys, wait=wait))
            except BackendUnavailable as exc:
                outcomes.put((index, exc))
                return
            with lock:
                first = bool(popped) and not claimed
                if first:
                    claimed.append(True)
            if popped and not first:
                try:
                    self._call(index, lambda c: c.lpush(popped[0], popped[1]))
                except BackendUnavailable:
                    logger.error("Lost a message on %s: Redis failed while returning it to its list", popped[0])
                popped = None
            outcomes.put((index, popped))

        for index, keys in plan:
            threading.Thread(target=waiter, args=(index, keys), daemon=True, name="channellayer-wait").start()
        for _ in plan:
            index, outcome = outcomes.get()
            if isinstance(outcome, BackendUnavailable):
                raise outcome
            if outcome:
                return index, outcome[0], outcome[1]
        return None

    @staticmethod
    def _take(client: redis.Redis, message_key: bytes | str) -> bytes | None:
        pipe = client.pipeline(transaction=False)
        pipe.get(message_key)
        pipe.delete(message_key)
        payload: bytes | None = pipe.execute()[0]
        return payload

    def _exists(self, name: str) -> bool:
        index = self._shard_of(name)
        return bool(self._call(index, lambda c: c.exists(self.prefix + name)))

    def _group_add(self, group: str, channel: str) -> None:
        key = self._group_key(group)

        def run(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.zadd(key, {channel: time.time()})
            pipe.expire(key, self.group_expiry)
            pipe.execute()

        self._call(self._shard_of(group), run)

    def _group_discard(self, group: str, channel: str) -> None:
        self._call(self._shard_of(group), lambda c: c.zrem(self._group_key(group), channel))

    def _group_members(self, group: str) -> list[str]:
        key = self._group_key(group)

        def run(client: redis.Redis) -> list[bytes]:
            pipe = client.pipeline(transaction=False)
            pipe.zremrangebyscore(key, 0, int(time.time()) - self.group_expiry)
            pipe.zrange(key, 0, -1)
            members: list[bytes] = pipe.execute()[1]
            return members

        return [m.decode("utf8") for m in self._call(self._shard_of(group), run)]

    def _push_group(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        queued = 0
        for index, (keys, args) in self._group_script_args(batches).items():
            queued += self._run_script(index, "group_send", keys, args)
        return queued

    def _flush(self) -> None:
        for index in range(self.ring_size):
            self._call(index, self._flush_shard)

    def _flush_shard(self, client: redis.Redis) -> None:
        for prefix in (self.prefix, self.stats_prefix):
            pattern = "".join(f"[{ch}]" if ch in "*?[]\\" else ch for ch in prefix) + "*"
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.unlink(*batch)
                    batch = []
            if batch:
                client.unlink(*batch)

    def _global_statistics(self) -> dict[str, int]:
        keys = self._stats_keys(GLOBAL_STATS_KEY)[:2]
        totals = {"messages_count": 0, "channel_full_count": 0}
        for index in range(self.ring_size):
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
            channel: {"depth": 0, "oldest_age": None, "shards": [0] * self.ring_size} for channel in channels
        }
        for index in range(self.ring_size):
            wanted = [
                channel
                for channel in channels
                if not self._hashed(targets[channel]) or self._shard_of(targets[channel]) == index
            ]
            if not wanted:
                continue

            def run(client: redis.Redis, wanted: list[str] = wanted) -> list[tuple[int, int]]:
                pipe = client.pipeline(transaction=False)
                for channel in wanted:
                    pipe.llen(self.prefix + targets[channel])
                    pipe.lindex(self.prefix + targets[channel], 0)
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

    def _status_index(self) -> str:
        return f"{self.prefix}:status"

    def _announce(self, kind: str, ident: str, info: str, ttl: float) -> None:
        # One key per process (its TTL is the heartbeat's life) and an index scored by expiry, so the
        # reader needs neither KEYS nor SCAN; both live on shard 0. asgi_redis never uses "<prefix>:status".
        member = f"{kind}:{ident}"
        expires = time.time() + ttl

        def run(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.set(f"{self._status_index()}:{member}", info, px=max(1, int(ttl * 1000)))
            pipe.zadd(self._status_index(), {member: expires})
            pipe.zremrangebyscore(self._status_index(), "-inf", time.time())
            pipe.expire(self._status_index(), 86400)  # stale members go at the next announce
            pipe.execute()

        self._call(0, run)

    def _announcements(self) -> list[tuple[str, str, str]]:
        def run(client: redis.Redis) -> list[tuple[str, str, str]]:
            members = [
                m.decode() if isinstance(m, bytes) else str(m)
                for m in client.zrangebyscore(self._status_index(), time.time(), "+inf")
            ]
            if not members:
                return []
            values = client.mget([f"{self._status_index()}:{member}" for member in members])
            found = []
            for member, value in zip(members, values, strict=True):
                if value is not None:
                    kind, _, ident = member.partition(":")
                    found.append((kind, ident, value.decode() if isinstance(value, bytes) else str(value)))
            return found

        return self._call(0, run)

    def _channel_statistics(self, target: str) -> dict[str, int | float]:
        shards = [self._shard_of(target)] if self._hashed(target) else range(self.ring_size)
        stats: dict[str, int | float] = {"messages_count": 0, "channel_full_count": 0, "messages_pending": 0}
        oldest = 0
        for index in shards:

            def run(client: redis.Redis) -> list[Any]:
                pipe = client.pipeline(transaction=False)
                pipe.mget(self._stats_keys(target)[:2])
                pipe.llen(self.prefix + target)
                pipe.lindex(self.prefix + target, 0)
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
