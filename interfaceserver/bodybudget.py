"""The process-wide budget of request-body bytes held in memory, and giving that memory back.

Every HTTP/1 exchange keeps the body bytes it has read but not yet handed to the channel layer
(a whole body up to ``--body-stream-threshold``, or the next chunk of a streamed one). Clients
that start an upload and then stall would otherwise pin that memory for as long as they like, on
as many connections as they like. So all exchanges take their bytes from one budget
(``--max-buffered-body``): a piece that does not fit is refused, and the exchange answers 503
(``Retry-After: 1``) and closes, which frees what it held. One warning starts such an episode and
one info line ends it, once the total is down to half the budget. Bodies that fit are unaffected, and
a streamed upload holds at most about one chunk at a time, so the budget only bites when many
connections sit on partial bodies at once.

Freed bytes go back to the C allocator, which keeps them in the process unless asked: when the
total drops to zero after a high point, ``malloc_trim(0)`` (glibc) runs once, a second later, and
returns the free heap to the system, so RSS falls back after a burst of stalled uploads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

from .sweep import cancel

__all__ = ["BodyBudget"]

logger = logging.getLogger("interfaceserver")

#: A peak below this is not worth a trim (the allocator reuses small amounts by itself).
_TRIM_AFTER = 1024 * 1024
_TRIM_DELAY = 1.0


def _malloc_trim() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to call
        return None


_TRIM = _malloc_trim()


class BodyBudget:
    """Counts request-body bytes held across connections; see the module docstring."""

    __slots__ = ("limit", "clock", "held", "peak", "refused", "trim_call")

    def __init__(self, limit: int, clock: Any) -> None:
        self.limit = limit
        self.clock = clock
        self.held = 0
        self.peak = 0
        self.refused = 0  # pieces refused in the current episode (0: none, the next refusal logs)
        self.trim_call: Any = None

    def take(self, size: int) -> bool:
        """Reserve ``size`` bytes; False (and nothing reserved) when that would pass the limit."""
        if self.held + size > self.limit:
            if not self.refused:  # one line per episode, not one per refused request
                logger.warning(
                    "Request bodies held in memory reached the budget (%d + %d > %d bytes); "
                    "answering 503 until it frees",
                    self.held,
                    size,
                    self.limit,
                )
            self.refused += 1
            return False
        self.held += size
        self.peak = max(self.peak, self.held)
        return True

    def give(self, size: int) -> None:
        """Return ``size`` bytes taken earlier."""
        self.held -= size
        if self.refused and self.held <= self.limit // 2:  # the episode of refusals is over
            logger.info(
                "Request bodies held in memory down to %d of %d bytes (peak %d; %d refused with 503)",
                self.held,
                self.limit,
                self.peak,
                self.refused,
            )
            self.refused = 0
        if self.held == 0 and self.peak >= _TRIM_AFTER and self.trim_call is None:
            self.trim_call = self.clock.callLater(_TRIM_DELAY, self._emptied)

    def _emptied(self) -> None:
        self.trim_call = None
        if self.held:
            return  # busy again; the next time it empties schedules another trim
        logger.debug("Request bodies held in memory back to 0 (peak %d bytes); returning free memory", self.peak)
        self.peak = 0
        if _TRIM is not None:
            _TRIM(0)

    def stop(self) -> None:
        """Cancel a pending trim (the reactor is stopping)."""
        cancel(self.trim_call)
        self.trim_call = None
