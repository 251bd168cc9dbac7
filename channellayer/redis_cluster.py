"""Redis Cluster channel layer: an opt-in format in which every key of one operation is in one hash slot.

This is **not** the asgi_redis layout (whose message keys are random names, so a send touches two
slots); a legacy process cannot read it. See docs/channel-layers.md, "Redis Cluster", for the
migration path.

Keys (``prefix`` defaults to ``asgi:``, ``stats_prefix`` to ``asgi-meta:``):

- ``<prefix>{<list>}`` — a LIST per channel (``http.request``) or per process (``daphne.response.X!``);
  each entry is the message's expiry time (13 digits of Unix milliseconds, Redis's clock) followed by
  its msgpack (optionally Fernet) payload. No separate message keys: a send is one RPUSH, a receive
  one LPOP, both inside one script on one slot. TTL expiry + 1 on the list.
- ``<stats_prefix>{<list>}:messages_count`` / ``:channel_full_count`` — counters, same slot as the list.
- ``<prefix>{<list>}:flow:<channel>`` — the flow key of a paused connection, same slot as its list.
- ``<prefix>:group:{<group>}`` — a ZSET of members scored by add time, in the group's own slot.

A group send reads the group (one call to its slot), then makes **one script call per hash slot**
holding member lists: the members on one interface server share one list, so a broadcast to its
1,000 sockets is one call. A receive over several lists runs one script per slot group and, when
blocking, one BLPOP per slot group at once (the first pop wins, a loser puts its entry back at the
head). redis-py's ``RedisCluster`` follows MOVED/ASK redirections (a resharding) and refreshes its
slot map after a failed node; it is given no retries on connection errors, as the plain Redis layer:
a retried send could be delivered twice, so a failure surfaces as BackendUnavailable instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import redis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.retry import Retry

from .base import Prepared
from .errors import BackendFull, BackendUnavailable, ChannelFull, ChannelPaused
from .names import check_channel_name, non_local_name
from .redis_base import RedisLayerBase, describe_url, status_members
from .redis_keyspace import CHANNEL_STATS_EXPIRY
from .retry import Backoff

__all__ = ["RedisClusterChannelLayer"]

logger = logging.getLogger("channellayer")

T = TypeVar("T")

#: What a cluster client raises: Redis errors, and redis-py's own "cannot reach / agree on the cluster".
_ERRORS = (redis.RedisError, redis.exceptions.RedisClusterException)

#: How long a call keeps being re-sent while Redis answers TRYAGAIN (a slot migration caught the
#: call's keys half moved) or redirects past redis-py's TTL. Such a reply means nothing ran, so
#: re-sending is safe; ``redis-cli --cluster reshard`` moves a slot in milliseconds.
MIGRATION_RETRY_SECONDS = 2.0
#: Every 50 ms within that time (channellayer.retry).
MIGRATION_RETRY = Backoff(initial=0.05, factor=1.0, maximum=0.05, jitter=0.0)


def _not_executed(exc: BaseException) -> bool:
    return isinstance(exc, (redis.exceptions.TryAgainError, redis.exceptions.ClusterError))


_STAMP = 13  # digits of the expiry stamp in front of every payload


def _live(entry: bytes) -> bytes | None:
    """The payload of a raw list entry (as BLPOP returns it), or None if it has expired."""
    return entry[_STAMP:] if int(entry[:_STAMP]) > time.time() * 1000 else None


def _startup_nodes(urls: list[str]) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """Host/port pairs and the connection options (password, TLS) the ``hosts`` URLs carry."""
    nodes: list[tuple[str, int]] = []
    options: dict[str, Any] = {}
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme == "unix":
            raise ValueError(f"hosts entry {url!r}: a Redis Cluster is reached over TCP, not a unix socket")
        nodes.append((parsed.hostname or "localhost", parsed.port or 6379))
        if parsed.username:
            options["username"] = unquote(parsed.username)
        if parsed.password:
            options["password"] = unquote(parsed.password)
        if parsed.scheme == "rediss":
            options["ssl"] = True
    return nodes, options


class RedisClusterChannelLayer(RedisLayerBase):
    """ASGI 1 layer on a Redis Cluster (its own hash-tagged format; see the module docstring)."""

    script_names = ("send", "receive", "group_send")
    script_file_prefix = "cluster_"
    prefix_forbidden = "{}"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._nodes = _startup_nodes(self.hosts)[0]
        self._client_lock = threading.Lock()
        self._client: RedisCluster | None = None
        self._scripts: dict[str, Any] = {}
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncRedisCluster] = (
            weakref.WeakKeyDictionary()
        )
        self._waiters: set[asyncio.Future[None]] = set()

    def _connection_options(self, given: dict[str, Any]) -> dict[str, Any]:
        """Our defaults, then what the ``hosts`` URLs carry (password, TLS), then ``connection_kwargs``;
        no health checks (a cluster client checks its nodes itself)."""
        url_options = _startup_nodes(self.hosts)[1]
        options = {**super()._connection_options({}), **url_options, **given}
        options.pop("health_check_interval", None)
        return options

    def __repr__(self) -> str:
        return f"<{type(self).__name__} hosts={[describe_url(h) for h in self.hosts]!r} prefix={self.prefix!r}>"

    # -- connections ----------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> BackendUnavailable:
        where = ", ".join(describe_url(h) for h in self.hosts)
        if isinstance(exc, redis.exceptions.OutOfMemoryError):
            return BackendFull(f"Redis Cluster ({where}) is out of memory (maxmemory): {exc}")
        return BackendUnavailable(f"Redis Cluster ({where}) failed: {exc}")

    @property
    def client(self) -> RedisCluster:
        """The synchronous cluster client, made on first use (so a layer can be built while the cluster is down)."""
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = RedisCluster(
                        startup_nodes=[ClusterNode(host, port) for host, port in self._nodes],
                        retry=Retry(NoBackoff(), 0),
                        **self.connection_kwargs,
                    )
                except _ERRORS as exc:
                    raise self._unavailable(exc) from exc
                self._scripts = {name: self._client.register_script(src) for name, src in self.scripts.sources.items()}
            return self._client

    def _call(self, operation: Callable[[RedisCluster], T]) -> T:
        attempts = MIGRATION_RETRY.attempts(deadline=time.monotonic() + MIGRATION_RETRY_SECONDS)
        while True:
            try:
                return operation(self.client)
            except _ERRORS as exc:
                delay = attempts.next_delay() if _not_executed(exc) else None
                if delay is None:
                    raise self._unavailable(exc) from exc
            time.sleep(delay)

    def _script(self, name: str, keys: list[str], args: Sequence[Any] = ()) -> Any:
        return self._call(lambda client: self._scripts[name](keys=keys, args=list(args), client=client))

    def _aclient(self) -> AsyncRedisCluster:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = AsyncRedisCluster(
                startup_nodes=[AsyncClusterNode(host, port) for host, port in self._nodes],
                retry=AsyncRetry(NoBackoff(), 0),
                **self.connection_kwargs,
            )
        return client

    async def _aretry(self, operation: Callable[[AsyncRedisCluster], Any]) -> Any:
        """Await ``operation(client)``; re-send it while a migration makes Redis refuse it (see _call)."""
        attempts = MIGRATION_RETRY.attempts(deadline=time.monotonic() + MIGRATION_RETRY_SECONDS)
        while True:
            try:
                return await operation(self._aclient())
            except _ERRORS as exc:
                delay = attempts.next_delay() if _not_executed(exc) else None
                if delay is None:
                    raise self._unavailable(exc) from exc
            await asyncio.sleep(delay)

    async def _acall(self, *command: Any) -> Any:
        return await self._aretry(lambda client: client.execute_command(*command))

    async def _ascript(self, name: str, keys: list[str], args: Sequence[Any] = ()) -> Any:
        """EVALSHA on the keys' slot; a node that lacks the script (a promoted replica) gets it loaded."""
        sha = self.scripts.shas[name]

        async def run(client: AsyncRedisCluster) -> Any:
            try:
                return await client.evalsha(sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                await client.script_load(self.scripts.sources[name])
                return await client.evalsha(sha, len(keys), *keys, *args)

        return await self._aretry(run)

    def close(self) -> None:
        """Close the synchronous client, and the portal's event loop with the connections it opened."""
        self._portal.close(self.aclose)
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    async def aclose(self) -> None:
        if self._waiters:
            await asyncio.gather(*self._waiters, return_exceptions=True)
        client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    # -- naming ---------------------------------------------------------------------------

    def _list_key(self, target: str) -> str:
        return f"{self.prefix}{{{target}}}"

    def _counter_keys(self, target: str) -> list[str]:
        tagged = f"{self.stats_prefix}{{{target}}}"
        return [f"{tagged}:messages_count", f"{tagged}:channel_full_count"]

    def _flow_key(self, channel: str) -> str:
        return f"{self._list_key(non_local_name(channel))}:flow:{channel}"

    def _group_key(self, group: str) -> str:
        return f"{self.prefix}:group:{{{group}}}"

    def _target_of(self, list_key: bytes | str) -> str:
        key = list_key.decode("utf8") if isinstance(list_key, bytes) else list_key
        return key[len(self.prefix) + 1 : -1]

    def _counter_ttl(self, targets: Iterable[str]) -> int:
        # As the Redis layer: counters of per-process and single-reader lists live as long as a message.
        return self.expiry + 1 if all("!" in t or "?" in t for t in targets) else CHANNEL_STATS_EXPIRY

    def _send_call(
        self, channel: str | None, target: str, payload: bytes, capacity: int
    ) -> tuple[list[str], list[Any]]:
        keys = [self._list_key(target), *self._counter_keys(target)]
        if channel is not None:
            keys.append(self._flow_key(channel))
        return keys, [payload, self.expiry, capacity, self._counter_ttl((target,))]

    def _slot_groups(self, names: list[str]) -> list[list[str]]:
        """The list keys of ``names`` grouped by hash slot, each group shuffled, the groups in random order."""
        groups: dict[int, list[str]] = {}
        for name in names:
            key = self._list_key(name)
            groups.setdefault(key_slot(key.encode("utf8")), []).append(key)
        plan = list(groups.values())
        random.shuffle(plan)
        for keys in plan:
            random.shuffle(keys)
        return plan

    def _group_calls(self, batches: dict[str, tuple[int, list[bytes]]]) -> list[tuple[list[str], list[Any]]]:
        """One ``cluster_group_send`` call (keys, args) per hash slot that holds member lists."""
        per_slot: dict[int, tuple[list[str], list[Any]]] = {}
        ttl = self._counter_ttl(batches)
        for target, (capacity, payloads) in batches.items():
            key = self._list_key(target)
            slot = key_slot(key.encode("utf8"))
            if slot not in per_slot:
                per_slot[slot] = ([], [self.expiry, ttl])
            keys, args = per_slot[slot]
            keys.extend((key, *self._counter_keys(target)))
            args.extend((capacity, len(payloads), *payloads))
        return list(per_slot.values())

    # -- storage operations ----------------------------------------------------------------

    def _push(self, target: str, payload: bytes, capacity: int) -> None:
        if not self._script("send", *self._send_call(None, target, payload, capacity)):
            raise ChannelFull(f"channel {target!r} is at its capacity of {capacity}")

    def _push_window(self, channel: str, target: str, payload: bytes, capacity: int) -> None:
        result = self._script("send", *self._send_call(channel, target, payload, capacity))
        if result == -1:
            raise ChannelPaused(f"the connection behind {channel!r} is not reading; wait before sending more")
        if not result:
            raise ChannelFull(f"channel {target!r} holds {capacity} messages (a windowed send)")

    def _push_many(self, prepared: list[Prepared]) -> list[bool]:
        # In order, one call each: messages to one list keep their order, and the calls of different
        # slots go to different nodes anyway.
        return [bool(self._script("send", *self._send_call(None, *item))) for item in prepared]

    def _pop(self, names: list[str], block: bool) -> tuple[str, bytes] | None:
        """One script call per slot group for a waiting message; then, blocking, the one waiter on the portal."""
        for keys in self._slot_groups(names):
            found = self._script("receive", keys)
            if found:
                return self._target_of(found[0]), found[1]
        if not block:
            return None
        return self._portal.call(self._pop_async(names, first_pass=False))

    def _exists(self, name: str) -> bool:
        return bool(self._call(lambda c: c.exists(self._list_key(name))))

    def _group_add(self, group: str, channel: str) -> None:
        key = self._group_key(group)

        def run(client: RedisCluster) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.zadd(key, {channel: time.time()})
            pipe.expire(key, self.group_expiry)
            pipe.execute()

        self._call(run)

    def _group_discard(self, group: str, channel: str) -> None:
        self._call(lambda c: c.zrem(self._group_key(group), channel))

    def _group_members(self, group: str) -> list[str]:
        key = self._group_key(group)

        def run(client: RedisCluster) -> list[bytes]:
            pipe = client.pipeline(transaction=False)
            pipe.zremrangebyscore(key, 0, time.time() - self.group_expiry)
            pipe.zrange(key, 0, -1)
            members: list[bytes] = pipe.execute()[1]
            return members

        return [m.decode("utf8") for m in self._call(run)]

    def _push_group(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        return sum(int(self._script("group_send", keys, args)) for keys, args in self._group_calls(batches))

    def _flush(self) -> None:
        patterns = [
            "".join(f"[{ch}]" if ch in "*?[]\\" else ch for ch in p) + "*" for p in (self.prefix, self.stats_prefix)
        ]

        def run(client: RedisCluster) -> None:
            for node in client.get_primaries():
                connection = client.get_redis_connection(node)
                for pattern in patterns:
                    batch = list(connection.scan_iter(match=pattern, count=1000))
                    # Keys of one node span many slots: delete one by one (pipelined), never CROSSSLOT.
                    for start in range(0, len(batch), 1000):
                        pipe = connection.pipeline(transaction=False)
                        for key in batch[start : start + 1000]:
                            pipe.unlink(key)
                        pipe.execute()

        self._call(run)

    def _global_statistics(self) -> dict[str, int]:
        """Sums of the live per-list counters over every master (SCAN, never KEYS): there is no
        cluster-wide key a send could count in without touching a second slot."""
        totals = {"messages_count": 0, "channel_full_count": 0}

        def run(client: RedisCluster) -> None:
            for node in client.get_primaries():
                connection = client.get_redis_connection(node)
                for name in totals:
                    keys = list(connection.scan_iter(match=f"{self.stats_prefix}{{*}}:{name}", count=1000))
                    pipe = connection.pipeline(transaction=False)
                    for key in keys:
                        pipe.get(key)
                    totals[name] += sum(int(v or 0) for v in pipe.execute())

        self._call(run)
        return totals

    def _channel_statistics(self, target: str) -> dict[str, int | float]:
        key = self._list_key(target)

        def run(client: RedisCluster) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for counter in self._counter_keys(target):
                pipe.get(counter)
            pipe.llen(key)
            pipe.lindex(key, 0)
            replies: list[Any] = pipe.execute()
            return replies

        sent, full, pending, first = self._call(run)
        stats: dict[str, int | float] = {
            "messages_count": int(sent or 0),
            "channel_full_count": int(full or 0),
            "messages_pending": pending,
        }
        if first:
            stats["messages_max_age"] = max(0.0, time.time() - (int(first[:_STAMP]) / 1000 - self.expiry))
        return stats

    # -- announcements (channellayer.status) ----------------------------------------------

    def _status_key(self, member: str = "") -> str:
        # Every announcement key in one slot (hash tag "status"), so one pipeline reads or writes them.
        return f"{self.prefix}:status:{{status}}" + (f":{member}" if member else "")

    def _announce(self, kind: str, ident: str, info: str, ttl: float) -> None:
        member = f"{kind}:{ident}"

        def run(client: RedisCluster) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.set(self._status_key(member), info, px=max(1, int(ttl * 1000)))
            pipe.zadd(self._status_key(), {member: time.time() + ttl})
            pipe.zremrangebyscore(self._status_key(), "-inf", time.time())
            pipe.expire(self._status_key(), 86400)  # stale members go at the next announce
            pipe.execute()

        self._call(run)

    def _announcements(self) -> list[tuple[str, str, str]]:
        def run(client: RedisCluster) -> list[tuple[str, str, str]]:
            members = status_members(client.zrangebyscore(self._status_key(), time.time(), "+inf"))
            return (
                self._live_announcements(
                    members, client.mget_nonatomic([self._status_key(member) for member in members])
                )
                if members
                else []
            )

        return self._call(run)

    # -- the asyncio extension ---------------------------------------------------------------

    async def _push_async(self, target: str, payload: bytes, capacity: int) -> None:
        if not await self._ascript("send", *self._send_call(None, target, payload, capacity)):
            raise ChannelFull(f"channel {target!r} is at its capacity of {capacity}")

    async def _push_many_async(self, prepared: list[Prepared]) -> list[bool]:
        return [bool(await self._ascript("send", *self._send_call(None, *item))) for item in prepared]

    async def _group_members_async(self, group: str) -> list[str]:
        key = self._group_key(group)

        async def read(client: AsyncRedisCluster) -> Any:
            pipe = client.pipeline(transaction=False)
            pipe.zremrangebyscore(key, 0, time.time() - self.group_expiry)
            pipe.zrange(key, 0, -1)
            return (await pipe.execute())[1]

        return [m.decode("utf8") for m in await self._aretry(read)]

    async def _push_group_async(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        queued = 0
        for keys, args in self._group_calls(batches):
            queued += int(await self._ascript("group_send", keys, args))
        return queued

    async def pause_async(self, channel: str, paused: bool) -> None:
        key = self._flow_key(check_channel_name(channel))
        await self._acall(*(("SET", key, 1, "EX", self.expiry) if paused else ("DEL", key)))

    async def _pop_async(self, names: list[str], first_pass: bool = True) -> tuple[str, bytes] | None:
        deadline = time.monotonic() + self._wait
        while True:
            plan = self._slot_groups(names)
            if first_pass:
                for keys in plan:
                    found = await self._ascript("receive", keys)
                    if found:
                        return self._target_of(found[0]), found[1]
            first_pass = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            popped = await self._await_any(plan, remaining if len(plan) == 1 else min(remaining, 1.0))
            if popped is not None:
                payload = _live(popped[1])
                if payload is not None:
                    return self._target_of(popped[0]), payload

    async def _pop_batch_async(self, name: str, limit: int, max_bytes: int) -> list[tuple[str, bytes]]:
        """Up to ``limit`` ready entries of one list in one script call; when empty, one BLPOP first."""
        key = self._list_key(name)
        found = await self._ascript("receive", [key], [limit, max_bytes])
        if found:
            return [(name, payload) for payload in found[1:]]
        popped = await self._acall("BLPOP", key, self._wait)
        first = _live(popped[1]) if popped else None
        if first is None:
            return []
        payloads = [first]
        if limit > 1 and len(first) < max_bytes:
            more = await self._ascript("receive", [key], [limit - 1, max_bytes - len(first)])
            payloads.extend(more[1:] if more else [])
        return [(name, payload) for payload in payloads]

    async def _await_any(self, plan: list[list[str]], wait: float) -> tuple[bytes, bytes] | None:
        """Block until any slot group has an entry: one BLPOP per group at once; the first pop wins.

        The layer's one waiter (synchronous receives run it on the portal). Waiters are never
        cancelled (a cancelled BLPOP could lose a pop); a group whose BLPOP also popped puts its
        entry back at the head of its list, so nothing is lost or delivered twice. On several slot
        groups a wait is capped at 1 s, so a loser's BLPOP never outlives its receive by long.
        """
        if len(plan) == 1:
            popped = await self._acall("BLPOP", *plan[0], wait)
            return (popped[0], popped[1]) if popped else None
        claimed: list[bool] = []
        outcomes: asyncio.Queue[Any] = asyncio.Queue()

        async def waiter(keys: list[str]) -> None:
            try:
                popped = await self._acall("BLPOP", *keys, wait)
            except BackendUnavailable as exc:
                outcomes.put_nowait(exc)
                return
            first = bool(popped) and not claimed
            if first:
                claimed.append(True)
            elif popped:
                try:
                    await self._acall("LPUSH", popped[0], popped[1])
                except BackendUnavailable:
                    logger.error("Lost a message on %s: Redis failed while returning it to its list", popped[0])
                popped = None
            outcomes.put_nowait(popped)

        for keys in plan:
            task = asyncio.ensure_future(waiter(keys))
            self._waiters.add(task)
            task.add_done_callback(self._waiters.discard)
        for _ in plan:
            outcome = await outcomes.get()
            if isinstance(outcome, BackendUnavailable):
                raise outcome
            if outcome:
                return outcome[0], outcome[1]
        return None
