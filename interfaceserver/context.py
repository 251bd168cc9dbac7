"""What every connection of one process shares: config, clock, layer I/O, the reply table and timers.

The reply table maps the *local* part of a reply channel (the letters after ``!``) to the HTTP
exchange or WebSocket that owns it, so one reader of the process's reply list can hand each reply
to its owner in O(1). Nothing here imports a reactor: the clock and the layer I/O are passed in,
which is how unit tests drive connections with ``task.Clock`` and an in-memory layer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import string
from collections.abc import Mapping
from typing import Any, Protocol

from .accesslog import AccessLogHook
from .bodybudget import BodyBudget
from .config import Config
from .metrics import Metrics
from .sweep import DeadlineSweep, Sweep

__all__ = ["ConnectionSet", "Context", "ReplyTarget", "Sender", "random_letters"]

logger = logging.getLogger("interfaceserver")

#: Seconds between two warnings of one kind (Context.warn).
_WARN_EVERY = 10.0


def random_letters(count: int = 10) -> str:
    return "".join(random.choices(string.ascii_letters, k=count))


class ConnectionSet(set[Any]):
    """A server's open connections; :attr:`empty` is set whenever there are none (the drain waits on it).

    Connections join with ``add`` and leave with ``discard`` (connection.py), the two kept here.
    """

    def __init__(self) -> None:
        super().__init__()
        self.empty = asyncio.Event()
        self.empty.set()

    def add(self, conn: Any) -> None:
        super().add(conn)
        self.empty.clear()

    def discard(self, conn: Any) -> None:
        super().discard(conn)
        if not self:
            self.empty.set()


class Sender(Protocol):
    """The layer I/O a connection needs (LayerIO in production)."""

    def send(self, channel: str, message: Mapping[str, Any]) -> Any: ...

    def new_channel(self, pattern: str) -> Any: ...

    def pause(self, channel: str, paused: bool) -> Any: ...


class ReplyTarget(Protocol):
    def on_reply(self, message: dict[str, Any]) -> None: ...


class Context:
    """Shared state of one interface-server process (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        clock: Any,
        io: Sender,
        *,
        group_expiry: float = 86400,
        access_log: AccessLogHook | None = None,
        prefix: str | None = None,
        layer_message_limit: int | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self._warned: dict[str, tuple[float | None, int]] = {}
        #: Prometheus counters of this process (see metrics.py); always kept, served with --metrics-port.
        self.metrics = metrics if metrics is not None else Metrics()
        #: The layer's max_message_size (encoded bytes), or None when it states none; see websocket.py.
        self.layer_message_limit = layer_message_limit
        self.clock = clock
        self.io = io
        self.access_log = access_log
        self.prefix = prefix or f"daphne.response.{random_letters()}!"
        self.replies: dict[str, ReplyTarget] = {}
        self.connections = ConnectionSet()
        self.draining = False
        #: Request-body bytes held by all HTTP exchanges (bounded by config.max_buffered_body; see exchange.py).
        self.body_budget = BodyBudget(config.max_buffered_body, clock)
        self.websocket_timeout = config.effective_websocket_timeout(group_expiry)
        self.connect_timeout = Config.limit(config.websocket_connect_timeout)
        self.handshake_timeout = Config.limit(config.websocket_handshake_timeout)
        self.http_timeout = Config.limit(config.http_timeout)
        # Open sockets are checked about four times per shortest deadline, between every 1 and 5
        # seconds (5 s also bounds the wait for a peer's close frame); everything else once a second.
        deadlines = [config.ping_interval, config.ping_timeout]
        if self.websocket_timeout is not None:
            deadlines.append(self.websocket_timeout)
        ws_period = min(5.0, max(1.0, min(deadlines) / 4))
        self.head_sweep = Sweep(clock, 1.0)
        self.http_sweep = Sweep(clock, 1.0)
        self.connecting_sweep = Sweep(clock, 1.0)
        self.ws_sweep = DeadlineSweep(clock, ws_period)

    def register(self, target: ReplyTarget) -> str:
        """A new reply channel name routed to ``target``."""
        while True:
            local = random_letters()
            if local not in self.replies:
                self.replies[local] = target
                return self.prefix + local

    def unregister(self, reply_channel: str) -> None:
        self.replies.pop(reply_channel[len(self.prefix) :], None)

    def warn(self, kind: str, message: str, *args: Any) -> None:
        """Log a warning of ``kind`` at most once per 10 s, saying how many like it were left out.

        For trouble that hits every connection at once (a layer outage, a full channel under load):
        one line per episode instead of one per request.
        """
        now = self.clock.seconds()
        last, skipped = self._warned.get(kind, (None, 0))
        if last is not None and now - last < _WARN_EVERY:
            self._warned[kind] = (last, skipped + 1)
            return
        if skipped:
            message += f" ({skipped} more like this in the last {_WARN_EVERY:.0f} s)"
        logger.warning(message, *args)
        self._warned[kind] = (now, 0)

    def notify(self, channel: str, message: Mapping[str, Any]) -> None:
        """Best-effort send (disconnects, aborted bodies): a full channel drops it, as in Daphne; errors are logged."""

        def failed(failure: Any) -> None:
            self.warn("notify", "Could not send %s: %s", channel, failure.getErrorMessage())

        result = self.io.send(channel, message)
        if hasattr(result, "addErrback"):
            result.addErrback(failed)

    def dispatch(self, channel: str, message: dict[str, Any]) -> None:
        """Hand a reply from the process's list to its owner; unknown names are dropped (DEBUG)."""
        target = self.replies.get(channel[len(self.prefix) :]) if channel.startswith(self.prefix) else None
        if target is None:
            logger.debug("Message on unknown channel %r - discarding", channel)
            return
        target.on_reply(message)

    def stop_timers(self) -> None:
        for sweep in (self.head_sweep, self.http_sweep, self.connecting_sweep, self.ws_sweep):
            sweep.stop()
        self.body_budget.stop()
