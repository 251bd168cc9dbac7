"""Coarse timers: one timer per kind of deadline for the whole process, armed only while needed.

Per-connection ``callLater`` calls would cost a DelayedCall object (about half a kilobyte) per idle
socket and many wake-ups; instead each :class:`Sweep` holds a set of members and, every ``period``
seconds while the set is non-empty, calls ``member.sweep(now)``. An empty sweep has no timer at
all, so an idle server with nothing to check wakes up never. Deadlines are therefore honoured to
within ``period`` seconds, as Daphne's 2-second ``timeout_checker`` did.

Open WebSockets are many and their deadlines far apart (a ping every 20 s), so they use a
:class:`DeadlineSweep` instead: a timing wheel of ``period``-second buckets where each member waits
in the bucket of its own next deadline, and ``member.check(now)`` says when it is next due. A member
is touched only when something may be due (once per ping, for an idle socket), not every period;
activity that moves a deadline later needs no bookkeeping, since the member, checked early, just
names the later time.
"""

from __future__ import annotations

import heapq
import logging
import math
from typing import Any, Protocol

__all__ = ["DeadlineSweep", "Deadlined", "Sweep", "Sweepable", "cancel"]

logger = logging.getLogger("interfaceserver")


def cancel(call: Any) -> None:
    """Cancel a pending ``callLater`` call; None, or a call that already ran or was cancelled, is left alone."""
    if call is not None and call.active():
        call.cancel()


class Sweepable(Protocol):
    def sweep(self, now: float) -> None: ...


class Deadlined(Protocol):
    def check(self, now: float) -> float | None: ...


class Sweep:
    """A set of members checked every ``period`` seconds on ``clock`` (an IReactorTime)."""

    __slots__ = ("_clock", "_period", "_members", "_call")

    def __init__(self, clock: Any, period: float) -> None:
        self._clock = clock
        self._period = period
        self._members: set[Sweepable] = set()
        self._call: Any = None

    def __len__(self) -> int:
        return len(self._members)

    def add(self, member: Sweepable) -> None:
        self._members.add(member)
        if self._call is None:
            self._call = self._clock.callLater(self._period, self.run_once)

    def discard(self, member: Sweepable) -> None:
        self._members.discard(member)

    def run_once(self) -> None:
        """Check every member once, then re-arm if any are left. One member's error never stops the sweep."""
        self._call = None
        now = self._clock.seconds()
        for member in list(self._members):
            try:
                member.sweep(now)
            except Exception:
                logger.exception("Error while checking %r for timeouts", member)
        if self._members and self._call is None:
            self._call = self._clock.callLater(self._period, self.run_once)

    def stop(self) -> None:
        cancel(self._call)
        self._call = None


class DeadlineSweep:
    """Members checked at their own deadlines, to within ``period`` seconds, on one timer."""

    __slots__ = ("_clock", "_period", "_buckets", "_ticks", "_where", "_call", "_call_tick")

    def __init__(self, clock: Any, period: float) -> None:
        self._clock = clock
        self._period = period
        self._buckets: dict[int, set[Deadlined]] = {}
        self._ticks: list[int] = []  # a heap of the buckets' ticks; ticks of emptied buckets linger
        self._where: dict[Deadlined, int] = {}
        self._call: Any = None
        self._call_tick: int | None = None

    def __len__(self) -> int:
        return len(self._where)

    def add(self, member: Deadlined, deadline: float | None = None) -> None:
        """Check ``member`` at ``deadline`` (default: one period from now); moves it if already in."""
        now = self._clock.seconds()
        self._put(member, now + self._period if deadline is None else deadline, now)
        self._arm()

    def discard(self, member: Deadlined) -> None:
        tick = self._where.pop(member, None)
        if tick is not None:
            bucket = self._buckets[tick]
            bucket.discard(member)
            if not bucket:
                del self._buckets[tick]

    def _put(self, member: Deadlined, deadline: float, now: float) -> None:
        self.discard(member)
        # A bucket fires at tick * period, never before the deadlines in it, and always in the future.
        tick = max(math.ceil(deadline / self._period), math.floor(now / self._period) + 1)
        bucket = self._buckets.get(tick)
        if bucket is None:
            bucket = self._buckets[tick] = set()
            heapq.heappush(self._ticks, tick)
        bucket.add(member)
        self._where[member] = tick

    def _arm(self) -> None:
        while self._ticks and self._ticks[0] not in self._buckets:
            heapq.heappop(self._ticks)
        if not self._ticks:
            self.stop()
            return
        first = self._ticks[0]
        if self._call is not None and self._call_tick is not None and self._call_tick <= first:
            return
        self.stop()
        delay = max(first * self._period - self._clock.seconds(), 0.0)
        self._call, self._call_tick = self._clock.callLater(delay, self.run_once), first

    def run_once(self) -> None:
        """Check the members of every bucket that is due; each goes back in the bucket it names."""
        self._call = self._call_tick = None
        now = self._clock.seconds()
        due_tick = math.floor(now / self._period + 1e-9)
        while self._ticks and self._ticks[0] <= due_tick:
            tick = heapq.heappop(self._ticks)
            for member in self._buckets.pop(tick, ()):
                del self._where[member]
                try:
                    deadline = member.check(now)
                except Exception:
                    logger.exception("Error while checking %r for timeouts", member)
                    deadline = now + self._period
                if deadline is not None and member not in self._where:
                    self._put(member, deadline, now)
        self._arm()

    def stop(self) -> None:
        cancel(self._call)
        self._call = self._call_tick = None
