"""One WebSocket: the accept/reject handshake with the application, frames both ways, pings and timeouts.

Flow (reference §2.5–§2.8, §4.5): the upgrade request becomes ``websocket.connect`` (order 0) and the
101 is held back until the application replies ``accept`` (or sends a frame); ``accept: False`` or
``close`` while connecting answers 403. ChannelFull on connect is retried with back-off for up to
3 s (``connect_queue_wait``), then answers 503 (with Retry-After) and mutes the socket; ChannelFull on receive closes with 1013 and mutes it; a muted socket sends the
application nothing more. Every close ends with ``websocket.disconnect`` (code, order = frames + 1).

Timers are sweeps (one per process, see ``sweep.py``): while connecting, the connect timeout (403)
and handshake timeout (abort); when open, ``websocket_timeout`` (close 1000), ping after
``ping_interval`` of silence and abort after ``ping_timeout`` without a pong; when closing, give the
peer 5 s to answer our close frame. An idle socket holds this object, a frame parser and its slot
in two tables: a few hundred bytes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgpack
from twisted.python.failure import Failure

from channellayer import BackendUnavailable, MessageTooLarge
from channellayer.messages import WebSocketConnect
from channellayer.retry import FULL, Attempts

from .errors import ReplyError, WebSocketProtocolError
from .lifecycle import WsAction, WsEvent, WsState, advance
from .messages import (
    websocket_connect_message,
    websocket_disconnect_message,
    websocket_receive_message,
    websocket_reply_actions,
)
from .websocket_frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    FrameParser,
    accept_response,
    close_frame,
    encode_frame,
    refusal_response,
)

if TYPE_CHECKING:
    from .http11 import RequestHead
    from .seam import ClientSocket, WebSocketServices

__all__ = ["RECEIVE_ENVELOPE", "WebSocket", "message_limit"]

logger = logging.getLogger("interfaceserver")

_CLOSE_WAIT = 5.0
_PING = encode_frame(PING, b"")


#: Encoded bytes of a ``websocket.receive`` around its payload, besides the reply channel and path.
RECEIVE_ENVELOPE = (
    len(msgpack.packb({"reply_channel": "", "path": "", "order": 2**64 - 1, "bytes": b""}, use_bin_type=True))
    + 3
    + 4
    + 4
)  # bin32 header 5 not 2; str32 headers 5 not 1


def message_limit(max_ws_message: int, layer_limit: int | None, reply_channel: str, path: str) -> int:
    """The largest incoming message this socket accepts: ``--max-ws-message``, or less if the layer
    could not carry it. The layer measures the encoded ``websocket.receive`` (msgpack), so what it can
    take is its ``max_message_size`` minus that message's envelope, whose variable parts are the
    reply channel and the path; the order is counted at its largest, 9 bytes. A message within this
    limit always fits the layer, so one the server accepts always reaches a worker (never a late
    MessageTooLarge)."""
    if layer_limit is None:
        return max_ws_message
    envelope = RECEIVE_ENVELOPE + len(reply_channel.encode("utf8")) + len(path.encode("utf8"))
    return max(min(max_ws_message, layer_limit - envelope), 0)


#: Back-off of a websocket.connect that found its channel full: FULL's, from 50 ms (a burst needs a moment).
_CONNECT_RETRY = FULL.with_(initial=0.05)


def connect_queue_wait(connect_timeout: float | None) -> float:
    """How long a handshake retries a full websocket.connect channel before 503: 3 s, or 60 % of a
    shorter connect timeout, so the refusal is a clear 503 and not the connect timeout's 403."""
    return 3.0 if connect_timeout is None else min(3.0, 0.6 * connect_timeout)


class WebSocket:
    """The WebSocket side of a connection after an upgrade request; see the module docstring."""

    __slots__ = (
        "conn",
        "ctx",
        "state",
        "reply_channel",
        "path",
        "raw_path",
        "key",
        "subprotocol",
        "frames",
        "order",
        "muted",
        "created",
        "last_activity",
        "ping_sent",
        "closing_at",
        "close_code",
        "pending",
        "announced",
        "connect_message",
        "connect_retries",
    )

    def __init__(
        self, conn: ClientSocket, ctx: WebSocketServices, head: RequestHead, path: str, key: bytes, offered: list[str]
    ) -> None:
        self.conn = conn
        self.ctx = ctx
        self.state = WsState.HANDSHAKE
        self.path = path
        self.raw_path = head.target.partition(b"?")[0].decode("latin-1")  # the access log shows it undecoded
        self.key: bytes | None = key
        allowed = ctx.config.ws_protocols
        self.subprotocol = next((p for p in offered if p in allowed), None)
        self.order = 0
        self.muted = False
        self.created = self.last_activity = ctx.clock.seconds()
        self.ping_sent = 0.0
        self.closing_at = 0.0
        self.close_code = 1006
        self.pending = b""
        self.announced = False
        self.reply_channel = ctx.register(self)
        self.frames = FrameParser(
            message_limit(ctx.config.max_ws_message, ctx.layer_message_limit, self.reply_channel, path)
        )
        client, server, _ = conn.addresses()
        message = websocket_connect_message(
            head, reply_channel=self.reply_channel, client=client, server=server, proxy_headers=conn.proxy_trusted()
        )
        ctx.connecting_sweep.add(self)
        self._log("CONNECTING")
        self.announced = True
        self.connect_message: WebSocketConnect | None = message
        self.connect_retries: Attempts | None = None  # while websocket.connect meets a full channel
        ctx.io.send("websocket.connect", message).addCallbacks(self._connect_sent, self._connect_failed)

    def _log(self, action: str) -> None:
        log = self.ctx.access_log
        if log is not None:
            client = self.conn.client()
            log.websocket(client, action, self.raw_path)

    # -- handshake ---------------------------------------------------------------------------

    def _connect_sent(self, delivered: bool) -> None:
        if delivered or self.state != WsState.HANDSHAKE:
            self.connect_message = None
            return
        # A burst of handshakes (an avalanche after a deploy) waits for room instead of being refused:
        # retried with back-off for a while (connect_queue_wait), then 503 as Daphne answered at once.
        ctx = self.ctx
        if self.connect_retries is None:
            deadline = self.created + connect_queue_wait(ctx.connect_timeout)
            self.connect_retries = _CONNECT_RETRY.attempts(deadline, clock=ctx.clock.seconds)
        delay = self.connect_retries.next_delay()
        if delay is not None:
            ctx.clock.callLater(delay, self._resend_connect)
            return
        self.connect_message = None
        ctx.metrics.refused("queue_full")
        self._deny(503, "Connection queue at capacity")

    def _resend_connect(self) -> None:
        if self.state != WsState.HANDSHAKE or self.muted or self.connect_message is None:
            return
        self.ctx.io.send("websocket.connect", self.connect_message).addCallbacks(
            self._connect_sent, self._connect_failed
        )

    def _connect_failed(self, failure: Failure) -> None:
        self.ctx.warn("layer", "Could not send websocket.connect: %s", failure.getErrorMessage())
        if self.state == WsState.HANDSHAKE:
            self.ctx.metrics.refused("layer_unavailable")
            self._deny(503, "Channel layer unavailable")

    def _deny(self, status: int, detail: str) -> None:
        self.muted = True
        self.state = advance(self.state, WsEvent.REJECT)
        self._log("REJECT")
        self.conn.write(refusal_response(status, detail, [(b"Retry-After", b"1")]))
        self.conn.close()

    def accept(self) -> None:
        assert self.key is not None
        self.state = advance(self.state, WsEvent.ACCEPT)
        ctx = self.ctx
        ctx.connecting_sweep.discard(self)
        ctx.ws_sweep.add(self)
        self.conn.write(accept_response(self.key, self.subprotocol))
        self.key = None
        self.last_activity = ctx.clock.seconds()
        self._log("CONNECT")
        pending, self.pending = self.pending, b""
        if pending:
            self.data_received(pending)

    def reject(self) -> None:
        self.state = advance(self.state, WsEvent.REJECT)
        self._log("REJECT")
        self.conn.write(refusal_response(403, "Access denied"))
        self.conn.close()

    # -- replies from the application --------------------------------------------------------

    def on_reply(self, message: dict[str, Any]) -> None:
        if self.state in (WsState.CLOSED, WsState.CLOSING):
            return
        try:
            actions = websocket_reply_actions(message, self.state == WsState.HANDSHAKE)
        except ReplyError as exc:
            logger.error("HTTP/WS send decode error on %s: %s", self.reply_channel, exc)
            return
        for action, value in actions:
            if action == WsAction.ACCEPT:
                self.accept()
            elif action == WsAction.REJECT:
                self.reject()
            elif action == WsAction.CLOSE:
                self.close(value)
            else:
                self.last_activity = self.ctx.clock.seconds()
                self.conn.write(
                    encode_frame(BINARY, value)
                    if action == WsAction.BYTES
                    else encode_frame(TEXT, value.encode("utf8"))
                )

    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake with ``code`` (the peer has 5 s to answer)."""
        if self.state != WsState.OPEN:
            return
        self.state = advance(self.state, WsEvent.CLOSE)
        self.close_code = code
        self.closing_at = self.ctx.clock.seconds()
        self.ctx.ws_sweep.add(self, self.closing_at + _CLOSE_WAIT)
        self.conn.write(close_frame(code, reason))

    # -- frames from the client --------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.state == WsState.HANDSHAKE:
            # A client may not send frames before the 101; keep a bounded amount for after it.
            self.pending += data
            if len(self.pending) > self.ctx.config.max_ws_message + 14:
                self.conn.abort()
            return
        if self.state == WsState.CLOSED:
            return
        try:
            events = self.frames.feed(data)
        except WebSocketProtocolError as exc:
            logger.info("WebSocket protocol error on %s: %s", self.reply_channel, exc)
            self._fail(exc.code, exc.detail)
            return
        now = self.ctx.clock.seconds()
        self.last_activity = now
        for opcode, payload in events:
            if opcode == PING:
                self.conn.write(encode_frame(PONG, payload))
            elif opcode == PONG:
                self.ping_sent = 0.0
            elif opcode == CLOSE:
                self._peer_closed(payload[0])
                return
            elif self.state == WsState.OPEN:
                self._forward(payload)

    def _forward(self, payload: str | bytes) -> None:
        if self.muted:
            return
        self.order += 1
        message = websocket_receive_message(self.reply_channel, self.path, self.order, payload)
        self.ctx.io.send("websocket.receive", message).addCallbacks(self._receive_sent, self._receive_failed)

    def _receive_sent(self, delivered: bool) -> None:
        if not delivered and not self.muted:
            self.ctx.warn("receive-full", "websocket.receive is full; closing %s with 1013", self.reply_channel)
            self.muted = True
            self.close(1013, "Try again later")

    def _receive_failed(self, failure: Failure) -> None:
        if self.muted:
            return
        if failure.check(MessageTooLarge):
            self.close(1009, "Message too big")
        elif failure.check(BackendUnavailable):
            self.ctx.warn("layer", "Channel layer unavailable; closing %s with 1011", self.reply_channel)
            self.close(1011, "Channel layer unavailable")
        else:
            logger.error("Could not send websocket.receive: %s", failure.getErrorMessage())
            self.close(1011, "Internal error")

    def _peer_closed(self, code: int) -> None:
        # The disconnect reports the peer's code, also when it answers our close (as autobahn did).
        if self.state == WsState.OPEN:
            self.conn.write(close_frame(code) if code != 1005 else encode_frame(CLOSE, b""))
        self.close_code = code
        self.state = advance(self.state, WsEvent.CLOSED)
        self.conn.close()

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7): send our close frame, read nothing more, close the TCP
        connection. The disconnect reports ``code`` even if the peer's own close frame arrives meanwhile."""
        if self.state == WsState.OPEN:
            self.close(code, reason)
        if self.state == WsState.CLOSING:
            self.state = advance(self.state, WsEvent.CLOSED)
        self.conn.close()

    # -- timers and the end ------------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """The connecting sweep (every second): the connect and handshake timeouts."""
        ctx = self.ctx
        if self.state == WsState.HANDSHAKE:
            if ctx.connect_timeout is not None and now - self.created > ctx.connect_timeout:
                # The access log says only WSREJECT; this is nearly always a websocket.connect consumer
                # that never answers (Channels 0.x code had none to write: it accepted implicitly).
                logger.warning(
                    "WebSocket %s rejected: no consumer accepted it within the connect timeout (%gs). "
                    "A websocket.connect consumer must reply {'accept': True} (code ported from "
                    "Channels 0.x often lacks one).",
                    self.raw_path,
                    ctx.connect_timeout,
                )
                self.reject()
            elif ctx.handshake_timeout is not None and now - self.created > ctx.handshake_timeout:
                self.conn.abort()

    def check(self, now: float) -> float | None:
        """The open-socket deadlines (``ws_sweep``): websocket_timeout, keep-alive ping, pong wait, close
        wait. Acts on what is due and returns when this socket next needs checking (None: never)."""
        ctx = self.ctx
        config = ctx.config
        if self.state == WsState.OPEN:
            if ctx.websocket_timeout is not None and now - self.created > ctx.websocket_timeout:
                self.close(1000)
                return self.closing_at + _CLOSE_WAIT
            if self.ping_sent:
                if now - self.ping_sent > config.ping_timeout:
                    logger.info("No pong within %ss on %s; dropping it", config.ping_timeout, self.reply_channel)
                    self.conn.abort()
                    return None
                due = self.ping_sent + config.ping_timeout  # no new ping while one is unanswered
            elif now - self.last_activity > config.ping_interval:
                self.ping_sent = now
                self.conn.write(_PING)
                # Then: the pong wait ends, or (answered) the next ping is due, whichever comes first.
                due = now + min(config.ping_interval, config.ping_timeout)
            else:
                due = self.last_activity + config.ping_interval
            if ctx.websocket_timeout is not None:
                due = min(due, self.created + ctx.websocket_timeout)
            return due
        if self.state == WsState.CLOSING:
            if now - self.closing_at > _CLOSE_WAIT:
                self.conn.abort()
                return None
            return self.closing_at + _CLOSE_WAIT
        return None

    def going_away(self) -> None:
        """Graceful stop: close with 1001 and tell the application now (it will not hear it later)."""
        if self.state == WsState.HANDSHAKE:
            self.reject()
        elif self.state == WsState.OPEN:
            self.close(1001, "Server shutting down")
            self._announce_disconnect()

    def _announce_disconnect(self) -> None:
        if self.announced and not self.muted:
            self.announced = False
            message = websocket_disconnect_message(self.reply_channel, self.path, self.close_code, self.order + 1)
            self.ctx.notify("websocket.disconnect", message)

    def connection_lost(self) -> None:
        ctx = self.ctx
        if self.state != WsState.CLOSED:
            self.state = advance(self.state, WsEvent.LOST)
        ctx.connecting_sweep.discard(self)
        ctx.ws_sweep.discard(self)
        self._announce_disconnect()
        self._log("DISCONNECT")
        ctx.unregister(self.reply_channel)
