"""In-process channel layer: for tests and single-process use (``runserver``-style).

Thread-safe (one condition variable); blocking receives wait on it instead of polling, and an
asyncio receive waits on an event of its own loop that a send sets, so it holds no thread while it
waits (an interface server stopping never waits for a blocked reader thread). Messages are stored
encoded, so the copy-on-send, serialisability and size rules are the same as on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import deque
from typing import Any

from .base import BaseChannelLayer, Prepared
from .errors import ChannelFull

__all__ = ["MemoryChannelLayer"]

_Entry = tuple[float, bytes]  # (expires at, payload)


class MemoryChannelLayer(BaseChannelLayer):
    """ASGI 1 layer in one process's memory."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._cond = threading.Condition()
        self._lists: dict[str, deque[_Entry]] = {}
        self._groups: dict[str, dict[str, float]] = {}
        self._counts = {"messages_count": 0, "channel_full_count": 0}
        self._announced: dict[tuple[str, str], tuple[float, str]] = {}
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def _notify(self) -> None:
        """Wake every waiting receiver (called with the condition held, after a send)."""
        self._cond.notify_all()
        for loop, event in self._async_waiters:
            with contextlib.suppress(RuntimeError):  # that loop has just been closed
                loop.call_soon_threadsafe(event.set)

    def _expire(self, target: str, now: float) -> deque[_Entry]:
        queue = self._lists.get(target)
        if queue is None:
            queue = self._lists[target] = deque()
            return queue
        while queue and queue[0][0] <= now:
            queue.popleft()
        return queue

    def _append(self, target: str, payloads: list[bytes], capacity: int, now: float) -> bool:
        queue = self._expire(target, now)
        if len(queue) >= capacity:
            self._counts["channel_full_count"] += 1
            return False
        expires = now + self.expiry
        queue.extend((expires, payload) for payload in payloads)
        self._counts["messages_count"] += len(payloads)
        return True

    def _push(self, target: str, payload: bytes, capacity: int) -> None:
        with self._cond:
            if not self._append(target, [payload], capacity, time.time()):
                raise ChannelFull(f"channel {target!r} is at its capacity of {capacity}")
            self._notify()

    def _push_many(self, prepared: list[Prepared]) -> list[bool]:
        with self._cond:
            now = time.time()
            delivered = [self._append(target, [payload], capacity, now) for target, payload, capacity in prepared]
            self._notify()
        return delivered

    def _pop(self, names: list[str], block: bool) -> tuple[str, bytes] | None:
        deadline = time.monotonic() + self.blocking_timeout
        with self._cond:
            while True:
                now = time.time()
                for target in random.sample(names, len(names)):
                    queue = self._expire(target, now)
                    if queue:
                        return target, queue.popleft()[1]
                remaining = deadline - time.monotonic()
                if not block or remaining <= 0:
                    return None
                self._cond.wait(remaining)

    async def _pop_async(self, names: list[str]) -> tuple[str, bytes] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.blocking_timeout
        while True:
            waiter = (loop, asyncio.Event())
            with self._cond:
                popped = self._pop(names, block=False)
                if popped is not None:
                    return popped
                self._async_waiters.add(waiter)
            try:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                with contextlib.suppress(asyncio.TimeoutError):  # not the builtin TimeoutError on 3.10
                    await asyncio.wait_for(waiter[1].wait(), remaining)
            finally:
                with self._cond:
                    self._async_waiters.discard(waiter)

    def _exists(self, name: str) -> bool:
        with self._cond:
            return bool(self._lists.get(name))

    def _group_add(self, group: str, channel: str) -> None:
        with self._cond:
            self._groups.setdefault(group, {})[channel] = time.time()

    def _group_discard(self, group: str, channel: str) -> None:
        with self._cond:
            self._groups.get(group, {}).pop(channel, None)

    def _group_members(self, group: str) -> list[str]:
        with self._cond:
            members = self._groups.get(group, {})
            oldest = time.time() - self.group_expiry
            for channel in [c for c, added in members.items() if added < oldest]:
                del members[channel]
            return list(members)

    def _push_group(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        delivered = 0
        with self._cond:
            now = time.time()
            for target, (capacity, payloads) in batches.items():
                if self._append(target, payloads, capacity, now):
                    delivered += len(payloads)
            self._notify()
        return delivered

    def _flush(self) -> None:
        with self._cond:
            self._lists.clear()
            self._groups.clear()

    def _global_statistics(self) -> dict[str, int]:
        with self._cond:
            return dict(self._counts)

    def _channel_statistics(self, target: str) -> dict[str, int | float]:
        with self._cond:
            queue = self._expire(target, time.time())
            stats: dict[str, int | float] = {"messages_pending": len(queue)}
            if queue:
                stats["messages_max_age"] = time.time() - (queue[0][0] - self.expiry)
            return stats

    def _announce(self, kind: str, ident: str, info: str, ttl: float) -> None:
        with self._cond:
            self._announced[(kind, ident)] = (time.monotonic() + ttl, info)

    def _announcements(self) -> list[tuple[str, str, str]]:
        with self._cond:
            now = time.monotonic()
            for key in [key for key, (expires, _) in self._announced.items() if expires <= now]:
                del self._announced[key]
            return [(kind, ident, info) for (kind, ident), (_, info) in self._announced.items()]
