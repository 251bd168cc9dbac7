"""The ``asyncio`` extension of the Redis layer: the same operations on ``redis.asyncio``.

An interface server calls these from its event loop, so nothing here blocks: a receive is one
script call when a message waits and otherwise one awaited BLPOP. Connections are made per event
loop (redis.asyncio connections are bound to the loop that created them) and used directly (see
``_Link``): this is the interface server's hot path, and redis-py's per-call machinery cost more
CPU than the rest of a request. Plans, keys and script arguments come from the same helpers as the
synchronous path, so both write identical data.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aioredis

from .errors import BackendUnavailable, ChannelFull
from .names import check_channel_name, check_group_name, non_local_name

if TYPE_CHECKING:
    from .redis import RedisChannelLayer

__all__ = ["AsyncRedisOps"]

logger = logging.getLogger("channellayer")


_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - hiredis is an optional extra
    _pack = None

#: Failures of the connection itself (as opposed to an error reply to one command).
_LINK_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError, asyncio.TimeoutError, EOFError)


class _Link:
    """One Redis connection used directly: commands pipelined in one write, replies read in order.

    redis-py's ``execute_command`` / ``Pipeline`` wrap every call in a retry object, health checks
    and, for scripts in a pipeline, a ``SCRIPT EXISTS`` round trip before each batch. Here a batch is
    one packed write and one read per command; an error *reply* comes back in the result list (the
    connection stays in step), while a failure of the connection itself drops it, to be reopened by
    the next call. The connection comes from the client's own pool class, so URLs, TLS, passwords
    and Sentinel discovery are redis-py's.
    """

    __slots__ = ("conn",)

    def __init__(self, client: aioredis.Redis) -> None:
        self.conn = client.connection_pool.make_connection()

    async def run(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        conn = self.conn
        try:
            if not conn.is_connected:
                await conn.connect()
            if _pack is not None:
                await conn.send_packed_command(b"".join([_pack(c) for c in commands]), check_health=False)
            else:
                await conn.send_packed_command(
                    [part for c in commands for part in conn.pack_command(*c)], check_health=False)
            results: list[Any] = []
            for _ in commands:
                try:
                    results.append(await conn.read_response())
                except redis.ResponseError as exc:
                    results.append(exc)
            return results
        except BaseException:
            # Unknown state (an error or a cancellation mid-read): never reuse this socket.
            await conn.disconnect(nowait=True)
            raise


class _Shard:
    """Links of one shard on one event loop: an idle one is reused, a new one made when all are busy."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.idle: list[_Link] = []

    async def run(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        link = self.idle.pop() if self.idle else _Link(self.client)
        results = await link.run(commands)
        self.idle.append(link)  # only a link that finished cleanly is reused
        return results

    async def aclose(self) -> None:
        for link in self.idle:
            await link.conn.disconnect()
        self.idle.clear()
        await self.client.aclose()


class _LoopState:
    """Shards (clients and their links) for one event loop."""

    def __init__(self, layer: RedisChannelLayer) -> None:
        self.shards = [_Shard(layer._make_async_client(i)) for i in range(layer.ring_size)]


class AsyncRedisOps:
    """Native asyncio versions of receive/send/send_many/send_group for one RedisChannelLayer."""

    def __init__(self, layer: RedisChannelLayer) -> None:
        self.layer = layer
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        self._waiters: set[asyncio.Future[None]] = set()

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState(self.layer)
        return state

    def _unavailable(self, index: int, exc: BaseException) -> BackendUnavailable:
        return self.layer._unavailable(index, exc)

    async def _send(self, index: int, commands: list[tuple[Any, ...]]) -> list[Any]:
        try:
            return await self._loop_state().shards[index].run(commands)
        except (redis.RedisError, *_LINK_ERRORS) as exc:
            raise self._unavailable(index, exc) from exc

    def _checked(self, index: int, results: list[Any]) -> list[Any]:
        for result in results:
            if isinstance(result, redis.ResponseError):  # e.g. OOM at maxmemory, READONLY on a replica
                raise self._unavailable(index, result)
        return results

    async def _run(self, index: int, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Run ``commands`` pipelined on shard ``index``; any error reply or failure is BackendUnavailable."""
        return self._checked(index, await self._send(index, commands))

    async def _scripts(self, index: int, name: str, calls: list[tuple[list[Any], list[Any]]]) -> list[Any]:
        """Call script ``name`` once per ``(keys, args)`` in one round trip; load it if Redis lost it.

        A NOSCRIPT reply means that call did nothing, so loading the script and re-sending exactly
        those calls is safe (they fail together: the script is missing for the whole batch).
        """
        sha = self.layer._shas[name]
        commands = [("EVALSHA", sha, len(keys), *keys, *args) for keys, args in calls]
        results = await self._send(index, commands)
        missing = [i for i, result in enumerate(results) if isinstance(result, redis.exceptions.NoScriptError)]
        if missing:
            await self._run(index, [("SCRIPT", "LOAD", self.layer._sources[name])])
            again = await self._send(index, [commands[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        return self._checked(index, results)

    async def receive(self, channels: Any) -> tuple[str | None, dict[str, Any] | None]:
        layer = self.layer
        names = layer._receive_names(channels)
        deadline = time.monotonic() + layer._wait
        while True:
            plan = layer._receive_plan(names)
            for index, keys in plan:
                found = (await self._scripts(index, "receive", [(keys, [])]))[0]
                if found:
                    return layer._decode((layer._strip(found[0]), found[1]))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, None
            popped = await self._await_any(plan, remaining if len(plan) == 1 else min(remaining, 1.0))
            if popped:
                index, list_key, message_key = popped
                payload = (await self._run(index, [("GET", message_key), ("DEL", message_key)]))[0]
                if payload is not None:
                    return layer._decode((layer._strip(list_key), payload))

    async def receive_batch(self, channel: str, limit: int, max_bytes: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``limit`` messages of one channel (or process prefix) per round trip; see base class.

        A ready batch is one script call; an empty list is one BLPOP, and the message it pops comes
        back with whatever queued behind it in one more script call. Names spread over several
        shards (normal channels on a ring) take the single-message path.
        """
        layer = self.layer
        name = layer._receive_names([channel])[0]
        if layer.ring_size > 1 and not layer._hashed(name):
            received, message = await self.receive([channel])
            return [] if received is None or message is None else [(received, message)]
        index = layer._shard_of(name) if layer._hashed(name) else 0
        key = layer.prefix + name
        payloads = (await self._scripts(index, "receive_many", [([key], [limit, max_bytes])]))[0]
        if not payloads:
            popped = (await self._run(index, [("BLPOP", key, layer._wait)]))[0]
            if not popped:
                return []
            payloads = (await self._scripts(index, "receive_many", [([key], [limit, max_bytes, popped[1]])]))[0]
        decoded = (layer._decode((name, payload)) for payload in payloads)
        return [(received, message) for received, message in decoded if received is not None and message is not None]

    async def _await_any(self, plan: list[tuple[int, list[str]]], wait: float) -> tuple[int, bytes, bytes] | None:
        """The asyncio twin of RedisChannelLayer._wait_any: one BLPOP per shard, first pop wins.

        Waiters are never cancelled (a cancelled BLPOP could lose a popped message); a loser that
        pops puts the message key back at the head of its list.
        """
        claimed: list[bool] = []
        outcomes: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()

        async def waiter(index: int, keys: list[str]) -> None:
            try:
                popped = (await self._run(index, [("BLPOP", *keys, wait)]))[0]
            except BackendUnavailable as exc:
                outcomes.put_nowait((index, exc))
                return
            first = bool(popped) and not claimed
            if first:
                claimed.append(True)
            elif popped:
                try:
                    await self._run(index, [("LPUSH", popped[0], popped[1])])
                except BackendUnavailable:
                    logger.error("Lost a message on %s: Redis failed while returning it to its list", popped[0])
                popped = None
            outcomes.put_nowait((index, popped))

        for index, keys in plan:
            task = asyncio.ensure_future(waiter(index, keys))
            self._waiters.add(task)
            task.add_done_callback(self._waiters.discard)
        for _ in plan:
            index, outcome = await outcomes.get()
            if isinstance(outcome, BackendUnavailable):
                raise outcome
            if outcome:
                return index, outcome[0], outcome[1]
        return None

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        layer = self.layer
        target, payload, capacity = layer._prepare(channel, message)
        index = layer._send_shard(target)
        if not (await self._scripts(index, "send", [layer._send_args(target, payload, capacity)]))[0]:
            raise ChannelFull(f"channel {target!r} is at its capacity of {capacity}")

    async def pause(self, channel: str, paused: bool) -> None:
        """Set (with the layer's expiry, so a vanished server cannot pin it) or clear ``channel``'s flow key."""
        layer = self.layer
        key = layer._flow_key(check_channel_name(channel))
        index = layer._send_shard(non_local_name(channel))
        await self._run(index, [("SET", key, 1, "EX", layer.expiry)] if paused else [("DEL", key)])

    async def send_many(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> list[bool]:
        layer = self.layer
        prepared = [layer._prepare(channel, message) for channel, message in messages]
        by_shard: dict[int, list[int]] = {}
        for position, (target, _, _) in enumerate(prepared):
            by_shard.setdefault(layer._send_shard(target), []).append(position)
        delivered = [False] * len(prepared)
        for index, positions in by_shard.items():
            calls = [layer._send_args(*prepared[position]) for position in positions]
            for position, result in zip(positions, await self._scripts(index, "send", calls), strict=True):
                delivered[position] = bool(result)
        return delivered

    async def send_group(self, group: str, message: dict[str, Any]) -> int:
        layer = self.layer
        key = layer._group_key(check_group_name(group))
        _, members = await self._run(layer._shard_of(group), [
            ("ZREMRANGEBYSCORE", key, 0, int(time.time()) - layer.group_expiry), ("ZRANGE", key, 0, -1)])
        names = [m.decode("utf8") for m in members]
        if not names:
            layer._check_message(group, message)
            layer.codec.encode(group, message)
            return 0
        queued = 0
        for index, (keys, args) in layer._group_script_args(layer._group_batches(names, message)).items():
            queued += (await self._scripts(index, "group_send", [(keys, args)]))[0]
        return queued

    async def aclose(self) -> None:
        """Close the connections this event loop opened (after any shard waiter still out finishes)."""
        if self._waiters:
            await asyncio.gather(*self._waiters, return_exceptions=True)
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            for shard in state.shards:
                await shard.aclose()
                sentinel = getattr(shard.client, "channellayer_sentinel", None)
                for sentinel_client in getattr(sentinel, "sentinels", ()):
                    await sentinel_client.aclose()
