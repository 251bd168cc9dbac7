"""The ``asyncio`` extension of the Redis layer: the same operations on ``redis.asyncio``.

An interface server calls these from its event loop, so nothing here blocks: a receive is one
script call when a message waits and otherwise one awaited BLPOP. Connections are made per event
loop (redis.asyncio clients are bound to the loop that created them). Plans, keys and script
arguments come from the same helpers as the synchronous path, so both write identical data.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import redis
import redis.asyncio as aioredis

from .errors import BackendUnavailable, ChannelFull
from .names import check_group_name

if TYPE_CHECKING:
    from .redis import RedisChannelLayer

__all__ = ["AsyncRedisOps"]

logger = logging.getLogger("channellayer")

T = TypeVar("T")


async def _ablpop(client: aioredis.Redis, scripts: dict[str, Any], keys: list[str], wait: float) -> Any:
    return await client.blpop(keys, timeout=wait)


async def _alpush(client: aioredis.Redis, scripts: dict[str, Any], key: bytes, value: bytes) -> Any:
    return await client.lpush(key, value)


async def _atake(client: aioredis.Redis, scripts: dict[str, Any], message_key: bytes) -> bytes | None:
    async with client.pipeline(transaction=False) as pipe:
        pipe.get(message_key)
        pipe.delete(message_key)
        payload, _ = await pipe.execute()
    result: bytes | None = payload
    return result


class _LoopState:
    """Clients and registered scripts for one event loop."""

    def __init__(self, layer: RedisChannelLayer) -> None:
        self.clients = [layer._make_async_client(i) for i in range(layer.ring_size)]
        self.scripts = [
            {name: client.register_script(src) for name, src in layer._sources.items()} for client in self.clients
        ]


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

    async def _acall(self, index: int, operation: Callable[[Any, dict[str, Any]], Awaitable[T]]) -> T:
        state = self._loop_state()
        try:
            return await operation(state.clients[index], state.scripts[index])
        except redis.RedisError as exc:
            raise BackendUnavailable(f"Redis at {self.layer._describe_shard(index)} failed: {exc}") from exc

    async def receive(self, channels: Any) -> tuple[str | None, dict[str, Any] | None]:
        layer = self.layer
        names = layer._receive_names(channels)
        deadline = time.monotonic() + layer._wait
        while True:
            plan = layer._receive_plan(names)
            for index, keys in plan:
                found = await self._acall(index, lambda c, s, k=keys: s["receive"](keys=k))  # type: ignore[misc]
                if found:
                    return layer._decode((layer._strip(found[0]), found[1]))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, None
            popped = await self._await_any(plan, remaining if len(plan) == 1 else min(remaining, 1.0))
            if popped:
                index, list_key, message_key = popped
                payload = await self._acall(index, functools.partial(_atake, message_key=message_key))
                if payload is not None:
                    return layer._decode((layer._strip(list_key), payload))

    async def receive_batch(self, channel: str, limit: int, max_bytes: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``limit`` messages of one channel (or process prefix) per round trip; see base class.

        A ready batch is one script call; an empty list is one BLPOP, and the message it pops comes
        back with whatever queued behind it in one more script call. Names spread over several
        shards (normal channels on a ring) take the single-message path.
        """
        layer = self.layer
        names = layer._receive_names([channel])
        name = names[0]
        if layer.ring_size > 1 and not layer._hashed(name):
            received, message = await self.receive([channel])
            return [] if received is None or message is None else [(received, message)]
        index = layer._shard_of(name) if layer._hashed(name) else 0
        key = layer.prefix + name
        args: list[Any] = [limit, max_bytes]
        payloads = await self._acall(index, lambda c, s: s["receive_many"](keys=[key], args=args))
        if not payloads:
            popped = await self._acall(index, functools.partial(_ablpop, keys=[key], wait=layer._wait))
            if not popped:
                return []
            payloads = await self._acall(
                index, lambda c, s: s["receive_many"](keys=[key], args=[*args, popped[1]]))
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
                popped = await self._acall(index, functools.partial(_ablpop, keys=keys, wait=wait))
            except BackendUnavailable as exc:
                outcomes.put_nowait((index, exc))
                return
            first = bool(popped) and not claimed
            if first:
                claimed.append(True)
            elif popped:
                try:
                    await self._acall(index, functools.partial(_alpush, key=popped[0], value=popped[1]))
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
        keys, args = layer._send_args(target, payload, capacity)
        if not await self._acall(index, lambda c, s: s["send"](keys=keys, args=args)):
            raise ChannelFull(f"channel {target!r} is at its capacity of {capacity}")

    async def send_many(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> list[bool]:
        layer = self.layer
        prepared = [layer._prepare(channel, message) for channel, message in messages]
        by_shard: dict[int, list[int]] = {}
        for position, (target, _, _) in enumerate(prepared):
            by_shard.setdefault(layer._send_shard(target), []).append(position)
        delivered = [False] * len(prepared)
        for index, positions in by_shard.items():

            async def run(client: aioredis.Redis, scripts: dict[str, Any], positions: list[int] = positions) -> Any:
                async with client.pipeline(transaction=False) as pipe:
                    for position in positions:
                        keys, args = layer._send_args(*prepared[position])
                        await scripts["send"](keys=keys, args=args, client=pipe)
                    return await pipe.execute()

            for position, result in zip(positions, await self._acall(index, run), strict=True):
                delivered[position] = bool(result)
        return delivered

    async def send_group(self, group: str, message: dict[str, Any]) -> int:
        layer = self.layer
        key = layer._group_key(check_group_name(group))

        async def members(client: aioredis.Redis, scripts: dict[str, Any]) -> list[bytes]:
            async with client.pipeline(transaction=False) as pipe:
                pipe.zremrangebyscore(key, 0, int(time.time()) - layer.group_expiry)
                pipe.zrange(key, 0, -1)
                result = await pipe.execute()
            members: list[bytes] = result[1]
            return members

        names = [m.decode("utf8") for m in await self._acall(layer._shard_of(group), members)]
        if not names:
            layer._check_message(group, message)
            layer.codec.encode(group, message)
            return 0
        queued = 0
        for index, (keys, args) in layer._group_script_args(layer._group_batches(names, message)).items():
            queued += await self._acall(index, lambda c, s, k=keys, a=args: s["group_send"](keys=k, args=a))  # type: ignore[misc]
        return queued

    async def aclose(self) -> None:
        """Close the connections this event loop opened (after any shard waiter still out finishes)."""
        if self._waiters:
            await asyncio.gather(*self._waiters, return_exceptions=True)
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            for client in state.clients:
                await client.aclose()
                sentinel = getattr(client, "channellayer_sentinel", None)
                for sentinel_client in getattr(sentinel, "sentinels", ()):
                    await sentinel_client.aclose()
