"""Retry and back-off, written once for every package (worker, interface server, WSGI adapter).

Two situations repeat across the code base and each gets one named schedule:

* ``OUTAGE`` — the channel layer is unreachable (``BackendUnavailable``). A process keeps trying
  until the backend returns, starting at 100 ms and doubling up to 5 s, each delay scaled by a
  random factor in ``[0.5, 1]`` so a fleet of workers and servers does not reconnect in step.
* ``FULL`` — a channel is at capacity (``ChannelFull`` / ``ChannelPaused``). The reader is alive
  and usually catches up within milliseconds, so the schedule starts at 10 ms and doubles up to
  500 ms, without jitter (one sender, one reader: nobody to spread out). Callers bound the whole
  wait with a deadline of their own (a worker's buffered sends, a request body chunk).

A :class:`Backoff` is a frozen description; :class:`Attempts` is one caller's running sequence of
delays (optionally cut at a deadline) and owns no thread or timer: callers sleep, ``await
asyncio.sleep`` or ``callLater`` the delay themselves, so tests drive it with a fake clock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

__all__ = ["FULL", "OUTAGE", "Attempts", "Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Attempt ``n`` waits ``initial * factor**n`` capped at ``maximum``, scaled by ``1 - jitter * random()``."""

    initial: float = 0.1
    factor: float = 2.0
    maximum: float = 5.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"Backoff needs 0 < initial <= maximum, not {self.initial!r}, {self.maximum!r}")
        if self.factor < 1:
            raise ValueError(f"Backoff factor must be at least 1, not {self.factor!r}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"Backoff jitter must be in [0, 1), not {self.jitter!r}")

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The wait before retry number ``attempt`` (0 for the first retry)."""
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return base * (1 - self.jitter * rand()) if self.jitter else base

    def with_(self, **changes: float) -> Backoff:
        """A copy with some fields changed (``OUTAGE.with_(maximum=1.0)``)."""
        return replace(self, **changes)

    def attempts(
        self,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> Attempts:
        """A fresh running sequence of this schedule's delays, cut at ``deadline`` (a ``clock()`` time)."""
        return Attempts(self, deadline=deadline, clock=clock, rand=rand)


#: The channel layer is unreachable: retry until it is back, spread out over a fleet.
OUTAGE = Backoff(initial=0.1, factor=2.0, maximum=5.0, jitter=0.5)
#: A channel is full: its reader is alive, so retry soon; callers bound the total wait.
FULL = Backoff(initial=0.01, factor=2.0, maximum=0.5, jitter=0.0)


class Attempts:
    """One caller's retries: ``next_delay()`` gives the next wait, or None once ``deadline`` has passed.

    The last delay before the deadline is shortened to end at it, so a bounded wait never
    overshoots; ``reset()`` starts the schedule again after a success.
    """

    __slots__ = ("backoff", "clock", "count", "deadline", "rand")

    def __init__(
        self,
        backoff: Backoff,
        *,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.backoff = backoff
        self.deadline = deadline
        self.clock = clock
        self.rand = rand
        self.count = 0

    def next_delay(self) -> float | None:
        delay = self.backoff.delay(self.count, self.rand)
        if self.deadline is not None:
            remaining = self.deadline - self.clock()
            if remaining <= 0:
                return None
            delay = min(delay, remaining)
        self.count += 1
        return delay

    @property
    def expired(self) -> bool:
        """Whether the deadline (if any) has passed."""
        return self.deadline is not None and self.clock() >= self.deadline

    def reset(self) -> None:
        self.count = 0
