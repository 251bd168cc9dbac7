"""The Twisted protocol of one client connection: HTTP/1.x with keep-alive, upgraded to WebSocket on request.

One object per socket, with ``__slots__`` and no ``Protocol`` base class (whose instances carry a
``__dict__``): bytes go to the pure :class:`~interfaceserver.http11.RequestParser`, heads and body
pieces to an :class:`~interfaceserver.exchange.Exchange`, and after an upgrade everything goes to
a :class:`~interfaceserver.websocket.WebSocket`. The connection is also the transport's push
producer, so it knows when the client stops reading: bytes written while the transport is paused
are counted, and a client that lets more than ``write_buffer_limit`` pile up is dropped with a log
line instead of growing the server's memory.

Bad input gets the status the parser names (400, 413, 414, 431, 501, 505) and the connection is
closed, since its framing can no longer be trusted. A request head must arrive within
``header_timeout`` (408 if part of it came, a silent close for an idle keep-alive connection).
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IProtocol, IPushProducer, ISSLTransport
from zope.interface import implementer

from .errors import ProtocolError
from .exchange import Exchange
from .http2 import h2_protocol, negotiated_h2
from .http11 import RequestHead, RequestParser
from .messages import Peer, peer_is_trusted, split_target
from .responses import error_page
from .seam import peer_of
from .twisted_compat import can_send_now, h2_streams_open, send_now
from .websocket import WebSocket
from .websocket_frames import handshake_key, offered_protocols

if TYPE_CHECKING:
    from .context import Context

__all__ = ["Connection", "set_no_delay"]

logger = logging.getLogger("interfaceserver")

#: Headers some refusals must carry: the WebSocket version we speak (RFC 6455 §4.4), when to retry.
_REFUSAL_HEADERS = {426: [(b"Sec-WebSocket-Version", b"13")], 503: [(b"Retry-After", b"1")]}

#: Bytes waiting for a client that stopped reading before its response's stream is paused.
_FLOW_PAUSE = 1 << 20

#: Pipelined bytes buffered behind a request in progress before the client is paused.
_PIPELINE_LIMIT = 64 * 1024

#: How long a connection that has not sent its (first) request may still send it once draining began.
_DRAIN_GRACE = 1.0


def set_no_delay(transport: Any) -> bool:
    """Turn Nagle's algorithm off on the TCP socket under ``transport`` (TLS included); True if it was TCP.

    Without it a keep-alive response whose head and body leave in two segments waits for the
    client's delayed ACK (~40 ms on Linux) before the second one is sent. UNIX sockets have no
    such option and are left alone.
    """
    while transport is not None:
        handle = getattr(transport, "getHandle", None)
        sock = handle() if handle is not None else None
        if isinstance(sock, socket.socket):
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                return False
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return True
        # TLS: the protocol wrapper's own transport is the TCP connection.
        transport = getattr(transport, "transport", None)
    return False


@implementer(IProtocol, IPushProducer)
class Connection:
    """One client socket; see the module docstring."""

    __slots__ = (
        "ctx",
        "transport",
        "parser",
        "exchange",
        "ws",
        "head_deadline",
        "writes_paused",
        "buffered",
        "reading_paused",
        "h2",
        "direct",
        "aborted",
        "served",
        "__weakref__",
    )

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.transport: Any = None
        self.parser: RequestParser | None = RequestParser(ctx.config.max_header_size, ctx.config.max_headers)
        self.exchange: Exchange | None = None
        self.ws: WebSocket | None = None
        self.head_deadline = 0.0
        self.writes_paused = False
        self.buffered = 0
        self.reading_paused = False
        self.h2: Any = None
        self.direct = False
        self.aborted = False
        #: Request heads seen on this connection (0: it was accepted and its first request is yet to come).
        self.served = 0

    def __repr__(self) -> str:
        return f"<Connection {self.transport and self.transport.getPeer()}>"

    # -- IProtocol ---------------------------------------------------------------------------

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport
        self.connectionMade()

    def connectionMade(self) -> None:
        # Plain TCP/UNIX sockets can be written to directly when Twisted's buffer is empty (see write()).
        transport = self.transport
        set_no_delay(transport)
        self.direct = can_send_now(transport)
        self.ctx.connections.add(self)
        self.transport.registerProducer(self, True)
        self._await_head()

    def dataReceived(self, data: bytes) -> None:
        if self.h2 is not None:
            self.h2.dataReceived(data)
            return
        if self.ws is not None:
            self.ws.data_received(data)
            return
        if self.parser is None:
            return
        if self.exchange is None and self.parser.in_head and not self.parser.buffered_size and data:
            if negotiated_h2(self.transport):
                self._switch_to_h2(data)
                return
        try:
            events = self.parser.feed(data)
        except ProtocolError as exc:
            self._refuse(exc)
            return
        for event in events:
            if self.parser is None or self.ws is not None:
                break
            if isinstance(event, RequestHead):
                self._on_head(event)
            elif event is None:
                if self.exchange is not None:
                    self.exchange.body_ended()
            elif self.exchange is not None:
                self.exchange.body_received(event)
        if self.parser is not None and self.parser.buffered_size > _PIPELINE_LIMIT and self.ws is None:
            self.pause_reading()

    def connectionLost(self, reason: Any = None) -> None:
        ctx = self.ctx
        ctx.connections.discard(self)
        ctx.head_sweep.discard(self)
        if self.h2 is not None:
            self.h2.connectionLost(reason)
        if self.exchange is not None:
            self.exchange.connection_lost()
            self.exchange = None
        if self.ws is not None:
            self.ws.connection_lost()
        self.parser = None

    # -- IPushProducer (the transport tells us when the client stops reading) -----------------

    def pauseProducing(self) -> None:
        self.writes_paused = True

    def resumeProducing(self) -> None:
        self.writes_paused = False
        self.buffered = 0
        if self.exchange is not None:
            self.exchange.flow_pause(False)

    def stopProducing(self) -> None:
        self.writes_paused = False

    # -- helpers for exchanges and WebSockets ------------------------------------------------

    def write(self, data: bytes) -> None:
        # Nothing more is written once aborted: the drop is logged once, not once per later write.
        if self.transport is None or not data or self.aborted:
            return
        if self.writes_paused:
            self.buffered += len(data)
            if self.buffered > _FLOW_PAUSE and self.exchange is not None:
                self.exchange.flow_pause(True)  # a streaming worker waits until the client catches up
            if self.buffered > self.ctx.config.write_buffer_limit:
                logger.warning(
                    "Client %s reads too slowly (%d bytes waiting); dropping it",
                    self.transport.getPeer(),
                    self.buffered,
                )
                self.abort()
                return
        elif self.direct:
            data = send_now(self.transport, data)  # one send() instead of a loop turn (twisted_compat)
            if not data:
                return
        self.transport.write(data)

    def close(self) -> None:
        """Close after everything written so far has been sent."""
        self.ctx.head_sweep.discard(self)
        self.parser = None
        self.transport.loseConnection()

    def abort(self) -> None:
        self.parser = None
        self.aborted = True
        self.transport.abortConnection()

    def pause_reading(self) -> None:
        if not self.reading_paused:
            self.reading_paused = True
            self.transport.pauseProducing()

    def resume_reading(self) -> None:
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resumeProducing()

    def client(self) -> Peer:
        """The peer as ``[host, port]`` (still known after the connection is lost)."""
        return peer_of(self.transport.getPeer())

    def addresses(self) -> tuple[Peer, Peer, str]:
        """``(client, server, scheme)`` of this socket, as Daphne reports them before proxy headers."""
        scheme = "https" if ISSLTransport.providedBy(self.transport) else "http"
        return peer_of(self.transport.getPeer()), peer_of(self.transport.getHost()), scheme

    def proxy_trusted(self) -> bool:
        config = self.ctx.config
        return config.proxy_headers and peer_is_trusted(peer_of(self.transport.getPeer()), config.proxy_trusted)

    def exchange_finished(self, exchange: Exchange, keep_alive: bool) -> None:
        """Called by the exchange when its response is complete (or failed)."""
        if self.exchange is exchange:
            self.exchange = None
        if not keep_alive or self.ctx.draining or self.parser is None:
            if self.transport is not None:
                self.close()
            return
        self.parser.next_request()
        self._await_head()
        self.resume_reading()
        if self.parser.buffered_size:
            self.dataReceived(b"")

    # -- internals ---------------------------------------------------------------------------

    def _await_head(self) -> None:
        self.head_deadline = self.ctx.clock.seconds() + self.ctx.config.header_timeout
        self.ctx.head_sweep.add(self)

    def sweep(self, now: float) -> None:
        """The header timeout: 408 for a partial head, a quiet close for an idle keep-alive connection."""
        if self.exchange is not None or self.ws is not None or self.parser is None:
            self.ctx.head_sweep.discard(self)
            return
        if now > self.head_deadline:
            if self.parser.buffered_size:
                self.transport.write(error_page(408, "Request headers not received within time limit."))
            self.close()

    def _refuse(self, exc: ProtocolError) -> None:
        logger.info("Refused a request from %s: %s", self.transport.getPeer(), exc)
        if self.exchange is not None and self.exchange.live:
            self.exchange.fail(exc.status, exc.detail)
        else:
            self.ctx.metrics.response(exc.status)
            self.transport.write(error_page(exc.status, exc.detail, extra_headers=_REFUSAL_HEADERS.get(exc.status)))
        if self.transport is not None:
            self.close()

    def _on_head(self, head: RequestHead) -> None:
        ctx = self.ctx
        ctx.head_sweep.discard(self)
        try:
            path, _ = split_target(head.target)
            self.served += 1
            if ctx.draining and head.upgrade:  # no new WebSocket on a server that is going away
                ctx.metrics.refused("draining")
                raise ProtocolError(503, "Server is shutting down.")
            if head.upgrade:
                if head.content_length or head.chunked:
                    raise ProtocolError(400, "WebSocket upgrade request with a body")
                key = handshake_key(head)
            elif head.content_length > ctx.config.max_request_body:
                raise ProtocolError(413, f"Request body larger than {ctx.config.max_request_body} bytes")
        except ProtocolError as exc:
            self._refuse(exc)
            return
        if head.upgrade:
            self._switch_to_websocket(head, path, key)
            return
        if head.expect_continue and (head.content_length or head.chunked):
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.exchange = Exchange(self, ctx, head, path)

    def _switch_to_websocket(self, head: RequestHead, path: str, key: bytes) -> None:
        """From now on the bytes are WebSocket frames (any already read are handed over)."""
        assert self.parser is not None
        rest = self.parser.buffered
        self.parser = None
        self.ws = WebSocket(self, self.ctx, head, path, key, offered_protocols(head))
        if rest:
            self.ws.data_received(rest)

    def _switch_to_h2(self, data: bytes) -> None:
        """TLS negotiated HTTP/2: from now on Twisted's HTTP/2 protocol gets the bytes, from ``data`` on."""
        self.ctx.head_sweep.discard(self)
        self.parser = None
        self.h2 = h2_protocol(self.ctx)
        self.h2.makeConnection(self.transport)
        self.h2.dataReceived(data)

    def going_away(self) -> None:
        """Graceful stop: idle connections close now, WebSockets close with 1001, busy HTTP finishes.

        An HTTP/1 connection accepted before the stop whose request has not (fully) arrived yet — the
        client connected an instant ago, or is still sending its head — is not cut off: its request is
        served, answered with ``Connection: close``, if it comes within ``_DRAIN_GRACE`` seconds (the
        header sweep closes it otherwise). Closing it would fail a request the client already sent,
        exactly when a rolling restart promises that none fails.
        """
        if self.ws is not None:
            self.ws.going_away()
        elif self.h2 is not None:
            if not h2_streams_open(self.h2):
                self.transport.loseConnection()
        elif self.exchange is None:
            if self.parser is not None and (self.served == 0 or self.parser.buffered_size):
                self.head_deadline = min(self.head_deadline, self.ctx.clock.seconds() + _DRAIN_GRACE)
                self.ctx.head_sweep.add(self)
            else:
                self.close()
