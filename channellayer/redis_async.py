"""The Redis layer's asyncio storage operations, and its one blocking waiter.

An interface server calls these from its event loop, so nothing here blocks: a receive is one
script call when a message waits and otherwise one awaited BLPOP. Connections are made per event
loop (redis.asyncio connections are bound to the loop that created them) and used directly (see
``_Link``): this is the interface server's hot path, and redis-py's per-call machinery cost more
CPU than the rest of a request. Key names, shard choice and script arguments come from
:class:`~channellayer.redis_keyspace.Keyspace`, so this path and the synchronous one write
identical data; the layer hands this module only what it needs (:class:`ShardAccess`).

The blocking wait lives here only: a synchronous ``receive(block=True)`` runs it on the layer's
:class:`~channellayer.portal.Portal`. On a ring it issues one BLPOP per shard at once; the first
pop wins, and the losers are released at once with ``CLIENT UNBLOCK`` (a loser that popped in the
same instant puts its message key back at the head of its list), so no connection stays blocked
after the receive returned.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import hiredis
import redis
import redis.asyncio as aioredis
from hiredis import pack_command as _pack

from .base import Prepared
from .errors import BackendUnavailable, ChannelFull, ChannelPaused
from .redis_keyspace import Keyspace, ReceivePlan, Scripts

__all__ = ["AsyncRedisOps", "ShardAccess", "take_transport"]

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

    __slots__ = ("client", "client_id", "conn", "replies", "timeout")

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.conn: Any = None
        self.replies: _Replies | None = None
        self.timeout = client.connection_pool.connection_kwargs.get("socket_timeout") or 10.0
        #: ``CLIENT ID`` of the current connection (to release a blocked BLPOP); 0 when Redis refused it.
        self.client_id: int | None = None

    async def _connect(self) -> _Replies:
        conn = self.client.connection_pool.make_connection()
        await conn.connect()
        transport = take_transport(conn)
        replies = _Replies(transport)
        transport.set_protocol(replies)
        self.conn, self.replies, self.client_id = conn, replies, None
        return replies

    async def identify(self) -> int:
        """This connection's ``CLIENT ID`` (asked once per connection), or 0 where ACLs forbid asking."""
        if self.client_id is None or self.replies is None or self.replies.lost is not None:
            reply = (await self.run([("CLIENT", "ID")]))[0]
            self.client_id = reply if isinstance(reply, int) else 0
        return self.client_id

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
        self.client_id = None


class _Shard:
    """Links of one shard on one event loop: an idle one is reused, a new one made when all are busy."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.idle: list[_Link] = []

    def take(self) -> _Link:
        return self.idle.pop() if self.idle else _Link(self.client)

    def give_back(self, link: _Link) -> None:
        self.idle.append(link)  # only a link that finished cleanly is given back

    async def run(self, commands: list[tuple[Any, ...]], extra_wait: float = 0.0) -> list[Any]:
        link = self.take()
        results = await link.run(commands, extra_wait)
        self.give_back(link)
        return results

    async def aclose(self) -> None:
        for link in self.idle:
            link.close()
        self.idle.clear()
        await self.client.aclose()
        sentinel = getattr(self.client, "channellayer_sentinel", None)
        for sentinel_client in getattr(sentinel, "sentinels", ()):
            await sentinel_client.aclose()


@dataclass(frozen=True)
class ShardAccess:
    """What the asyncio path needs from its layer, and nothing more."""

    keys: Keyspace
    scripts: Scripts
    #: a ``redis.asyncio`` client for shard ``index`` (made once per event loop)
    make_client: Callable[[int], aioredis.Redis]
    #: the layer's error for a failure of shard ``index`` (BackendFull on OOM, else BackendUnavailable)
    unavailable: Callable[[int, BaseException], BackendUnavailable]
    #: how long one blocking receive waits (the blocking timeout, kept under the socket timeout)
    wait: float


class _Race:
    """The shared state of one multi-shard wait: who won, and whether the receiver is still there."""

    __slots__ = ("abandoned", "blocked", "claimed", "outcomes")

    def __init__(self) -> None:
        self.claimed = False
        self.abandoned = False
        self.blocked: dict[int, int] = {}  # shard -> CLIENT ID of its waiting connection
        self.outcomes: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()

    def claim(self) -> bool:
        if self.claimed or self.abandoned:
            return False
        self.claimed = True
        return True


class AsyncRedisOps:
    """The asyncio storage operations of one Redis layer (``BaseChannelLayer``'s ``_*_async`` primitives)."""

    def __init__(self, access: ShardAccess) -> None:
        self.access = access
        self.keys = access.keys
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[_Shard]] = weakref.WeakKeyDictionary()
        self._waiters: set[asyncio.Future[None]] = set()

    def _shards(self) -> list[_Shard]:
        loop = asyncio.get_running_loop()
        shards = self._states.get(loop)
        if shards is None:
            shards = self._states[loop] = [_Shard(self.access.make_client(i)) for i in range(self.keys.ring_size)]
        return shards

    async def _send(self, index: int, commands: list[tuple[Any, ...]], extra_wait: float = 0.0) -> list[Any]:
        try:
            return await self._shards()[index].run(commands, extra_wait)
        except (redis.RedisError, *_LINK_ERRORS) as exc:
            raise self.access.unavailable(index, exc) from exc

    def _checked(self, index: int, results: list[Any]) -> list[Any]:
        for result in results:
            if isinstance(result, redis.RedisError):  # an error reply: OOM at maxmemory, READONLY, LOADING…
                raise self.access.unavailable(index, result)
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
        sha = self.access.scripts.shas[name]
        commands = [("EVALSHA", sha, len(keys), *keys, *args) for keys, args in calls]
        results = await self._send(index, commands)
        missing = [i for i, result in enumerate(results) if isinstance(result, redis.exceptions.NoScriptError)]
        if missing:
            await self._run(index, [("SCRIPT", "LOAD", self.access.scripts.sources[name])])
            again = await self._send(index, [commands[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        return self._checked(index, results)

    # -- receiving -------------------------------------------------------------------------

    async def try_pop(self, plan: ReceivePlan) -> tuple[str, bytes] | None:
        """One non-blocking pass over ``plan``: the first waiting message, or None."""
        for index, keys in plan:
            found = (await self._scripts(index, "receive", [(keys, [])]))[0]
            if found:
                return self.keys.list_name(found[0]), found[1]
        return None

    async def pop(self, names: list[str], first_pass: bool = True) -> tuple[str, bytes] | None:
        """Wait up to the layer's wait for a message on one of ``names``; ``(list name, payload)`` or None.

        ``first_pass=False`` skips the initial non-blocking pass (the synchronous caller just made it).
        """
        deadline = time.monotonic() + self.access.wait
        while True:
            plan = self.keys.receive_plan(names)
            if first_pass:
                found = await self.try_pop(plan)
                if found:
                    return found
            first_pass = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            popped = await self._wait_any(plan, remaining)
            if popped:
                index, list_key, message_key = popped
                payload = (await self._run(index, [("GET", message_key), ("DEL", message_key)]))[0]
                if payload is not None:
                    return self.keys.list_name(list_key), payload

    async def pop_batch(self, name: str, limit: int, max_bytes: int) -> list[tuple[str, bytes]]:
        """Up to ``limit`` messages of list ``name`` per round trip (see BaseChannelLayer.receive_batch_async).

        A ready batch is one script call; an empty list is one BLPOP, and the message it pops comes
        back with whatever queued behind it in one more script call. A normal channel spread over a
        ring takes the single-message path.
        """
        index = self.keys.batch_shard(name)
        if index is None:
            popped = await self.pop([name])
            return [] if popped is None else [popped]
        key = self.keys.list_key(name)
        wait = self.access.wait
        payloads = (await self._scripts(index, "receive_many", [([key], [limit, max_bytes])]))[0]
        if not payloads:
            popped = (await self._run(index, [("BLPOP", key, wait)], wait))[0]
            if not popped:
                return []
            payloads = (await self._scripts(index, "receive_many", [([key], [limit, max_bytes, popped[1]])]))[0]
        return [(name, payload) for payload in payloads]

    async def _wait_any(self, plan: ReceivePlan, wait: float) -> tuple[int, bytes, bytes] | None:
        """Block until any shard in ``plan`` has a message: ``(shard, list key, message key)`` or None.

        One BLPOP per shard, each in a task of its own that is never cancelled (a cancelled BLPOP
        could lose what it popped). The first pop wins; the other shards' BLPOPs are released with
        ``CLIENT UNBLOCK``, and one that popped anyway puts its message key back at the head of its
        list, so nothing is lost or delivered twice. If the receiver itself is cancelled, a pop that
        arrives later (or was already won) is put back the same way.
        """
        race = _Race()
        for index, keys in plan:
            self._spawn(self._waiter(race, index, keys, wait, len(plan) > 1))
        try:
            for _ in plan:
                index, outcome = await race.outcomes.get()
                if isinstance(outcome, BackendUnavailable):
                    raise outcome
                if outcome:
                    self._spawn(self._release(race, winner=index))
                    return index, outcome[0], outcome[1]
            return None
        except asyncio.CancelledError:
            race.abandoned = True
            while not race.outcomes.empty():
                index, outcome = race.outcomes.get_nowait()
                if outcome and not isinstance(outcome, BaseException):
                    self._spawn(self._put_back(index, outcome))
            raise

    async def _waiter(self, race: _Race, index: int, keys: list[str], wait: float, releasable: bool) -> None:
        shard = self._shards()[index]
        link = shard.take()
        try:
            if releasable and (client_id := await link.identify()):
                race.blocked[index] = client_id
            replies = [None] if race.claimed or race.abandoned else await link.run([("BLPOP", *keys, wait)], wait)
            shard.give_back(link)
            popped = self._checked(index, replies)[0]
        except (redis.RedisError, *_LINK_ERRORS) as exc:
            race.outcomes.put_nowait((index, self.access.unavailable(index, exc)))
            return
        except BackendUnavailable as exc:
            race.outcomes.put_nowait((index, exc))
            return
        finally:
            race.blocked.pop(index, None)
        if popped and not race.claim():
            await self._put_back(index, popped)
            popped = None
        race.outcomes.put_nowait((index, popped))

    async def _release(self, race: _Race, winner: int) -> None:
        """Release the other shards' blocked BLPOPs (best effort: without it they end at their timeout).

        ``CLIENT UNBLOCK`` travels on another connection, so it can reach Redis just before the BLPOP
        it is meant for; it is then tried again briefly while that waiter is still out.
        """
        for index in [i for i in race.blocked if i != winner]:
            for _ in range(3):
                client_id = race.blocked.get(index)
                if client_id is None:
                    break
                try:
                    released = (await self._run(index, [("CLIENT", "UNBLOCK", client_id)]))[0]
                except BackendUnavailable:
                    break  # that shard's waiter reports its own failure
                if released:
                    break
                await asyncio.sleep(0.005)

    async def _put_back(self, index: int, popped: list[bytes]) -> None:
        try:
            await self._run(index, [("LPUSH", popped[0], popped[1])])
        except BackendUnavailable:
            logger.error("Lost a message on %s: Redis failed while returning it to its list", popped[0])

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in a task that aclose() waits for."""
        task = asyncio.ensure_future(work)
        self._waiters.add(task)
        task.add_done_callback(self._waiters.discard)

    # -- sending ---------------------------------------------------------------------------

    async def push(self, target: str, payload: bytes, capacity: int, flow_channel: str | None = None) -> None:
        index = self.keys.send_shard(target)
        call = self.keys.send_call(target, payload, capacity, flow_channel)
        result = (await self._scripts(index, "send", [call]))[0]
        if result == -1:
            raise ChannelPaused(f"the connection behind {flow_channel!r} is not reading; wait before sending more")
        if not result:
            raise ChannelFull(f"channel {target!r} is at its capacity of {capacity}")

    async def push_many(self, prepared: list[Prepared]) -> list[bool]:
        delivered = [False] * len(prepared)
        for index, positions in self.keys.by_send_shard(target for target, _, _ in prepared).items():
            calls = [self.keys.send_call(*prepared[position]) for position in positions]
            for position, result in zip(positions, await self._scripts(index, "send", calls), strict=True):
                delivered[position] = bool(result)
        return delivered

    async def pause(self, channel: str, target: str, paused: bool) -> None:
        """Set (with the layer's expiry, so a vanished server cannot pin it) or clear ``channel``'s flow key."""
        key = self.keys.flow_key(channel)
        command = ("SET", key, 1, "EX", self.keys.expiry) if paused else ("DEL", key)
        await self._run(self.keys.send_shard(target), [command])

    async def group_members(self, group: str) -> list[str]:
        key = self.keys.group_key(group)
        expired = self.keys.group_expired_before(time.time())
        _, members = await self._run(
            self.keys.shard_of(group), [("ZREMRANGEBYSCORE", key, 0, expired), ("ZRANGE", key, 0, -1)]
        )
        return [m.decode("utf8") for m in members]

    async def push_group(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        queued = 0
        for index, call in self.keys.group_calls(batches).items():
            queued += (await self._scripts(index, "group_send", [call]))[0]
        return int(queued)

    async def aclose(self) -> None:
        """Close the connections this event loop opened (after any shard waiter still out finishes)."""
        if self._waiters:
            await asyncio.gather(*self._waiters, return_exceptions=True)
        for shard in self._states.pop(asyncio.get_running_loop(), []):
            await shard.aclose()
