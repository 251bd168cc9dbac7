"""Coarse timers: one timer per kind of deadline for the whole process, armed only while needed.

Per-connection ``callLater`` calls would cost a DelayedCall object (about half a kilobyte) per idle
socket and many wake-ups; instead each :class:`Sweep` holds a set of members and, every ``period``
seconds while the set is non-empty, calls ``member.sweep(now)``. An empty sweep has no timer at
all, so an idle server with nothing to check wakes up never. Deadlines are therefore honoured to
within ``period`` seconds, as Daphne's 2-second ``timeout_checker`` did.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

__all__ = ["Sweep", "Sweepable"]

logger = logging.getLogger("interfaceserver")


class Sweepable(Protocol):
    def sweep(self, now: float) -> None: ...


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
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
