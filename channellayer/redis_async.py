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
import collections
import logging
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import hiredis
import redis
import redis.asyncio as aioredis
from hiredis import pack_command as _pack

from .errors import BackendUnavailable, ChannelFull
from .names import check_channel_name, check_group_name, non_local_name

if TYPE_CHECKING:
    from .redis import RedisChannelLayer

__all__ = ["AsyncRedisOps"]

logger = logging.getLogger("channellayer")


#: Failures of the connection itself (as opposed to an error reply to one command).
_LINK_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError, asyncio.TimeoutError, EOFError)

#: Error replies that callers tell apart (the rest are ResponseError), by their first word.
_REPLY_ERRORS: dict[str, type[redis.RedisError]] = {
    "NOSCRIPT": redis.exceptions.NoScriptError,
    "OOM": redis.exceptions.OutOfMemoryError,
    "READONLY": redis.exceptions.ReadOnlyError,
    "LOADING": redis.exceptions.BusyLoadingError,
}


def _reply_error(message: str) -> redis.RedisError:
    return _REPLY_ERRORS.get(message.split(" ", 1)[0], redis.ResponseError)(message)


def take_transport(conn: Any) -> asyncio.Transport:
    """The asyncio transport of a connected ``redis.asyncio`` connection.

    The one place this module reads a redis-py private attribute (``_writer``): redis-py makes the
    connection (TLS, AUTH, SELECT, Sentinel discovery), and ``_Link`` then speaks RESP on its socket
    itself. ``tests/unit/test_layer_units.py`` fails loudly if a redis-py release changes this.
    """
    writer = getattr(conn, "_writer", None)
    transport = getattr(writer, "transport", None)
    if not isinstance(transport, asyncio.Transport):
        raise RuntimeError(
            f"redis-py {redis.__version__} changed its connection internals: no asyncio "
            "transport under Connection._writer; channellayer.redis_async needs updating"
        )
    return transport


class _Replies(asyncio.Protocol):
    """The protocol of a taken-over connection: parses replies with hiredis and resolves waiters in order."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.parser = hiredis.Reader(replyError=_reply_error)
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.lost: BaseException | None = None

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        waiting = self.waiting
        while True:
            try:
                reply = self.parser.gets()
            except hiredis.ProtocolError as exc:
                self.connection_lost(redis.ConnectionError(f"protocol error from Redis: {exc}"))
                self.transport.abort()
                return
            if reply is False:
                return
            if waiting:
                future = waiting.popleft()
                if not future.done():
                    future.set_result(reply)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.lost is None:
            self.lost = redis.ConnectionError(
                f"Connection closed by server ({exc})" if exc else "Connection closed by server."
            )
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(self.lost)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost fails what still waits


class _Link:
    """One Redis connection used directly: commands pipelined in one write, replies read in order.

    redis-py's ``execute_command`` / ``Pipeline`` wrap every call in a retry object, health checks,
    a task per write (``wait_for``), a timeout context per read and, for scripts in a pipeline, a
    ``SCRIPT EXISTS`` round trip before each batch. Here redis-py only makes the connection (so URLs,
    TLS, passwords and Sentinel discovery are its own); then a batch is one write, its replies come
    back through hiredis into plain futures, and one timer bounds the whole batch. An error *reply*
    comes back in the result list (the connection stays in step); a failure or timeout of the
    connection itself closes it, to be reopened by the next call.
    """

    __slots__ = ("client", "conn", "replies", "timeout")

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.conn: Any = None
        self.replies: _Replies | None = None
        self.timeout = client.connection_pool.connection_kwargs.get("socket_timeout") or 10.0

    async def _connect(self) -> _Replies:
        conn = self.client.connection_pool.make_connection()
        await conn.connect()
        transport = take_transport(conn)
        replies = _Replies(transport)
        transport.set_protocol(replies)
        self.conn, self.replies = conn, replies
        return replies

    async def run(self, commands: list[tuple[Any, ...]], extra_wait: float = 0.0) -> list[Any]:
        replies = self.replies
        if replies is None or replies.lost is not None:
            replies = await self._connect()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        replies.waiting.extend(futures)
        replies.transport.write(b"".join([_pack(c) for c in commands]))
        timer = loop.call_later(self.timeout + extra_wait, self._timed_out, replies)
        try:
            return [await future for future in futures]
        except BaseException:
            # Unknown state (a failure, a timeout or a cancellation mid-batch): never reuse this socket.
            self.close()
            raise
        finally:
            timer.cancel()

    def _timed_out(self, replies: _Replies) -> None:
        replies.connection_lost(redis.TimeoutError(f"Timeout reading from Redis after {self.timeout} s"))
        replies.transport.abort()

    def close(self) -> None:
        if self.replies is not None:
            self.replies.transport.abort()
            self.replies = None
        self.conn = None


class _Shard:
    """Links of one shard on one event loop: an idle one is reused, a new one made when all are busy."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.idle: list[_Link] = []

    async def run(self, commands: list[tuple[Any, ...]], extra_wait: float = 0.0) -> list[Any]:
        link = self.idle.pop() if self.idle else _Link(self.client)
        results = await link.run(commands, extra_wait)
        self.idle.append(link)  # only a link that finished cleanly is reused
        return results

    async def aclose(self) -> None:
        for link in self.idle:
            link.close()
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

    async def _send(self, index: int, commands: list[tuple[Any, ...]], extra_wait: float = 0.0) -> list[Any]:
        try:
            return await self._loop_state().shards[index].run(commands, extra_wait)
        except (redis.RedisError, *_LINK_ERRORS) as exc:
            raise self._unavailable(index, exc) from exc

    def _checked(self, index: int, results: list[Any]) -> list[Any]:
        for result in results:
            if isinstance(result, redis.RedisError):  # an error reply: OOM at maxmemory, READONLY, LOADING…
                raise self._unavailable(index, result)
        return results

    async def _run(self, index: int, commands: list[tuple[Any, ...]], extra_wait: float = 0.0) -> list[Any]:
        """Run ``commands`` pipelined on shard ``index``; any error reply or failure is BackendUnavailable.

        ``extra_wait`` adds a blocking command's own wait (BLPOP) to the connection's timeout.
        """
        return self._checked(index, await self._send(index, commands, extra_wait))

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
            popped = (await self._run(index, [("BLPOP", key, layer._wait)], layer._wait))[0]
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
                popped = (await self._run(index, [("BLPOP", *keys, wait)], wait))[0]
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
        _, members = await self._run(
            layer._shard_of(group),
            [("ZREMRANGEBYSCORE", key, 0, int(time.time()) - layer.group_expiry), ("ZRANGE", key, 0, -1)],
        )
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
