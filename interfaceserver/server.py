"""The interface server: listen on the endpoints, read replies, stop gracefully.

``Server(config, layer, reactor)`` wires a :class:`~interfaceserver.context.Context`, the
:class:`~interfaceserver.layerio.LayerIO` and a protocol factory together: :meth:`Server.start`
listens, :meth:`Server.drain` is the graceful stop: stop accepting, close idle keep-alive
connections, close WebSockets with 1001 (sending their ``websocket.disconnect``), let in-flight HTTP
responses finish within ``drain_timeout``, flush queued sends. Running it (reactor, signals, the
drain as the reactor's "before shutdown" trigger) is :mod:`interfaceserver.embedded`'s job, for the
command line and for in-process use alike.

The drain sleeps until the last connection is gone: the server's connection set signals when it
empties. Only HTTP/2 needs a nudge: such a connection closes when told to go away after its last
stream has finished, and nothing reports that moment, so while one remains it is told again every
half second.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IProtocolNegotiationFactory
from twisted.internet.protocol import Factory
from zope.interface import implementer

from channellayer.status import Heartbeat

from .config import Config
from .connection import Connection
from .context import Context
from .endpoints import endpoint_from_string
from .exchange import Exchange
from .http2 import H2_AVAILABLE, H2Request
from .layerio import LayerIO
from .lifecycle import HttpState, WsState
from .metrics import Metrics, listen_metrics
from .websocket import RECEIVE_ENVELOPE, WebSocket

if TYPE_CHECKING:
    from .embedded import AccessLogHook

__all__ = ["ConnectionFactory", "Server"]

logger = logging.getLogger("interfaceserver")

#: Seconds between two "go away" nudges of the HTTP/2 connections left while draining.
_H2_NUDGE = 0.5


@implementer(IProtocolNegotiationFactory)
class ConnectionFactory(Factory):
    """Builds a :class:`Connection` per socket; offers ALPN ``h2`` when HTTP/2 is available."""

    noisy = False

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def buildProtocol(self, addr: Any) -> Any:
        if self.ctx.draining:
            return None
        return Connection(self.ctx)

    def acceptableProtocols(self) -> list[bytes]:
        return [b"h2", b"http/1.1"] if H2_AVAILABLE else [b"http/1.1"]


class Server:
    """One interface server; see the module docstring."""

    def __init__(self, config: Config, layer: Any, reactor: Any, access_log: AccessLogHook | None = None) -> None:
        self.config = config
        self.layer = layer
        self.reactor = reactor
        self.ctx: Context
        self.metrics = Metrics()
        self.io = LayerIO(layer, "", self._dispatch, on_outage=self._layer_down, metrics=self.metrics)
        limit = getattr(getattr(layer, "codec", None), "max_message_size", None)
        self.ctx = Context(
            config,
            reactor,
            self.io,
            group_expiry=getattr(layer, "group_expiry", 86400),
            access_log=access_log,
            layer_message_limit=limit if isinstance(limit, int) else None,
            metrics=self.metrics,
        )
        self.connections = self.ctx.connections
        self.metrics.bind(lambda: len(self.ctx.connections), self._open_websockets)
        if isinstance(limit, int) and config.max_ws_message > limit - RECEIVE_ENVELOPE:
            logger.info(
                "--max-ws-message %d is more than the channel layer carries (max_message_size %d): "
                "incoming WebSocket messages are limited to %d bytes minus the path",
                config.max_ws_message,
                limit,
                limit - RECEIVE_ENVELOPE,
            )
        self.io.prefix = self.ctx.prefix
        self.factory = ConnectionFactory(self.ctx)
        self.ports: list[Any] = []
        self.metrics_port: Any = None
        self.heartbeat: Heartbeat | None = None
        # Parsed now, so a malformed endpoint string fails before the reactor starts (ValueError).
        self.endpoints = [endpoint_from_string(reactor, description) for description in config.endpoints]

    def _dispatch(self, channel: str, message: dict[str, Any]) -> None:
        self.ctx.dispatch(channel, message)

    def _layer_down(self) -> None:
        """The reply reader lost the layer: what waits for a reply gets its answer now, not at a timeout.

        A Redis that went away took the replies queued for us (and the group memberships) with it,
        so an HTTP request still awaiting its response is answered 503 (Retry-After) and an open
        WebSocket is closed with 1011: its client reconnects, and its connect consumer runs again
        (rejoining its groups) once the layer is back. Responses already streaming are left alone.
        """
        failed = closed = 0
        for target in list(self.ctx.replies.values()):
            if isinstance(target, Exchange) and target.state == HttpState.AWAITING_RESPONSE:
                self.metrics.refused("layer_unavailable")
                target.fail(503, "Channel layer unavailable.", [(b"Retry-After", b"1")])
                failed += 1
            elif isinstance(target, WebSocket) and target.state == WsState.OPEN:
                target.close(1011, "Channel layer unavailable")
                closed += 1
            elif isinstance(target, H2Request) and target.fail_waiting():
                failed += 1
        if failed or closed:
            logger.warning(
                "Channel layer lost: answered %d waiting request(s) with 503, closed %d WebSocket(s) with 1011",
                failed,
                closed,
            )

    def _open_websockets(self) -> int:
        # A copy first: the heartbeat thread calls this while the reactor adds and removes connections.
        return sum(1 for conn in list(self.ctx.connections) if conn.ws is not None and conn.ws.state == WsState.OPEN)

    def healthy(self) -> bool:
        """What ``/healthz`` reports: the reply reader reaches the layer and the server is not draining."""
        return self.io.healthy and not self.ctx.draining

    def _start_operations(self) -> None:
        """The ``--metrics-port`` endpoint (on the reactor) and the heartbeat on the layer (a daemon thread)."""
        config = self.config
        if config.metrics_port is not None:
            self.metrics_port = listen_metrics(
                self.reactor, self.metrics, self.healthy, config.metrics_port, config.metrics_bind
            )
            logger.info("Metrics on http://%s:%d/metrics", config.metrics_bind, self.metrics_port.getHost().port)
        if hasattr(self.layer, "announce"):
            self.heartbeat = Heartbeat(self.layer, "interface", self._announcement, config.heartbeat_interval)
            self.heartbeat.start()

    def _announcement(self) -> dict[str, Any]:
        return {
            "prefix": self.ctx.prefix,
            "connections": len(self.ctx.connections),
            "websockets": self._open_websockets(),
            "version": _version(),
            "draining": self.ctx.draining,
        }

    def listen(self) -> Deferred[list[Any]]:
        """Listen on every configured endpoint; fires with the listening ports."""
        deferreds = [endpoint.listen(self.factory) for endpoint in self.endpoints]

        def done(results: list[tuple[bool, Any]]) -> list[Any]:
            for ok, value in results:
                if not ok:
                    value.raiseException()
                _set_backlog(value, self.config.backlog)
                self.ports.append(value)
                logger.info("Listening on %s", _describe(value))
            return self.ports

        return DeferredList(deferreds, consumeErrors=True).addCallback(done)

    def start(self) -> Deferred[list[Any]]:
        logger.info("Reply channel prefix %s", self.ctx.prefix)
        self.io.start()
        self._start_operations()
        return self.listen()

    def drain(self) -> Deferred[None]:
        """Graceful stop (see the module docstring); the Deferred fires when it is safe to exit."""
        return Deferred.fromFuture(asyncio.ensure_future(self._drain()))

    async def _drain(self) -> None:
        ctx = self.ctx
        if ctx.draining:
            return
        ctx.draining = True
        logger.info("Shutting down: draining %d connections", len(ctx.connections))
        for port in self.ports:
            try:
                stopped = port.stopListening()
                if isinstance(stopped, Deferred):
                    await stopped.asFuture(asyncio.get_running_loop())
            except Exception:
                logger.debug("Error closing a listening port", exc_info=True)
        for conn in list(ctx.connections):
            conn.going_away()
        await self._connections_closed(self.config.drain_timeout)
        for conn in list(ctx.connections):
            logger.warning("Drain timeout: aborting %r", conn)
            conn.abort()
        ctx.stop_timers()
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.metrics_port is not None:
            self.metrics_port.stopListening()
        await self.io.stop()
        logger.info("Drained; exiting")

    async def _connections_closed(self, timeout: float) -> None:
        """Wait until every connection has closed, at most ``timeout`` seconds (see the module docstring)."""
        connections = self.connections
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while connections and (remaining := deadline - loop.time()) > 0:
            h2 = any(conn.h2 is not None for conn in connections)
            try:
                await asyncio.wait_for(connections.empty.wait(), min(remaining, _H2_NUDGE) if h2 else remaining)
            except asyncio.TimeoutError:  # not the builtin TimeoutError on Python 3.10
                for conn in list(connections):
                    if conn.h2 is not None:
                        conn.going_away()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("channels-classic")
    except Exception:
        return "unknown"


def _set_backlog(port: Any, backlog: int) -> None:
    """Give a listening port's socket a listen queue of ``backlog`` (Twisted's default is 50).

    listen() on a socket that already listens only changes its queue length, so this works the
    same for sockets Twisted opened from endpoint strings and for adopted ``fd:`` sockets, whose
    queue the parent process chose. The kernel silently caps it at ``net.core.somaxconn``.
    """
    sock = getattr(port, "socket", None)
    if sock is None:  # an endpoint plugin whose port hides its socket
        logger.warning("Cannot set the backlog of %s: it keeps its own", _describe(port))
        return
    sock.listen(backlog)


def _describe(port: Any) -> str:
    try:
        return str(port.getHost())
    except Exception:
        return repr(port)
