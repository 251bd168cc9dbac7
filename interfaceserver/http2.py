"""HTTP/2 over TLS (ALPN ``h2``), when Twisted's ``http2`` extra (the ``h2`` package) is installed.

As in Daphne 1.4.2, each stream is an ordinary request with its own reply channel and
``http_version`` "2"; Twisted's ``H2Connection`` does the framing, flow control and per-stream
backpressure, and :class:`H2Request` (a ``twisted.web.http.Request``) translates with the same pure
functions as HTTP/1.x. Differences from HTTP/1.x: a request body is buffered by Twisted and sent
whole, so bodies above ``body_stream_threshold`` get 413 on HTTP/2 (they can be sent over HTTP/1.1,
which streams them over a ``body_channel``); WebSockets need HTTP/1.1 (no RFC 8441).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from twisted.web import http

from .errors import ProtocolError, ReplyError
from .http11 import RequestHead
from .messages import http_disconnect_message, http_request_message, parse_response, peer_is_trusted, split_target
from .responses import error_body
from .seam import peer_of
from .twisted_compat import H2_AVAILABLE, new_h2_connection

if TYPE_CHECKING:
    from .seam import HttpServices

__all__ = ["H2_AVAILABLE", "H2Request", "h2_protocol", "negotiated_h2"]

logger = logging.getLogger("interfaceserver")

#: Seconds an HTTP/2 connection may stay without any frame before it is closed (nginx's default).
_IDLE_TIMEOUT = 180


def negotiated_h2(transport: Any) -> bool:
    """Whether TLS negotiated HTTP/2 (ALPN ``h2``) on ``transport`` and it can be served."""
    return H2_AVAILABLE and getattr(transport, "negotiatedProtocol", None) == b"h2"


def h2_protocol(ctx: HttpServices) -> Any:
    """A Twisted HTTP/2 protocol whose streams are :class:`H2Request` objects (not yet connected)."""
    return new_h2_connection(ctx.clock, lambda stream: H2Request(ctx, stream), _IDLE_TIMEOUT)


class H2Request(http.Request):
    """One HTTP/2 stream as an ASGI 1 request (see the module docstring)."""

    def __init__(self, ctx: HttpServices, channel: Any) -> None:
        super().__init__(channel, queued=False)
        self.ctx = ctx
        self.reply_channel = ""
        self.asgi_path = ""
        self.started = ctx.clock.seconds()
        self.responding = False
        self.ended = False
        self.body_size = 0
        self.held = 0  # body bytes taken from the process-wide body budget (released once sent or ended)
        self.over_budget = False

    def handleContentChunk(self, data: bytes) -> None:
        self.body_size += len(data)
        if self.body_size > self.ctx.config.body_stream_threshold or self.over_budget:
            return  # answered 413 / 503 in process(); nothing more is kept
        if not self.ctx.body_budget.take(len(data)):
            self.over_budget = True
            return
        self.held += len(data)
        super().handleContentChunk(data)

    def _release_body(self) -> None:
        if self.held:
            self.ctx.body_budget.give(self.held)
            self.held = 0

    def process(self) -> None:
        ctx = self.ctx
        config = ctx.config
        try:
            self.asgi_path, _ = split_target(self.uri)
            if self.body_size > config.body_stream_threshold:
                raise ProtocolError(413, "Request body too large for HTTP/2; send it over HTTP/1.1")
            if self.over_budget:
                ctx.metrics.refused("body_budget")
                raise ProtocolError(503, "Server is holding too many request bodies; try again.")
            headers = [
                (name.lower(), value) for name, values in self.requestHeaders.getAllRawHeaders() for value in values
            ]
            head = RequestHead(self.method, self.uri, "2", headers)
        except ProtocolError as exc:
            self._error(exc.status, exc.detail)
            return
        client, server = peer_of(self.getClientAddress()), peer_of(self.getHost())
        self.reply_channel = ctx.register(self)
        assert self.content is not None
        message = http_request_message(
            head,
            reply_channel=self.reply_channel,
            client=client,
            server=server,
            scheme="https",
            root_path=config.root_path,
            body=self.content.read(),
            proxy_headers=config.proxy_headers and peer_is_trusted(client, config.proxy_trusted),
        )
        self._release_body()  # the body now lives in the message, handed to the layer
        ctx.http_sweep.add(self)
        ctx.io.send("http.request", message).addCallbacks(self._sent, self._send_failed)

    def _sent(self, delivered: bool) -> None:
        if not delivered and not (self.ended or self.responding):
            self.ctx.metrics.refused("queue_full")
            self._error(503, "Request queue full.")

    def _send_failed(self, failure: Any) -> None:
        self.ctx.warn("layer", "Could not send http.request: %s", failure.getErrorMessage())
        if not (self.ended or self.responding):
            self.ctx.metrics.refused("layer_unavailable")
        self._error(503, "Channel layer unavailable.")

    def on_reply(self, message: dict[str, Any]) -> None:
        if self.ended:
            return
        try:
            status, headers, content, more = parse_response(message, self.responding)
        except ReplyError as exc:
            logger.error("HTTP/WS send decode error: %s", exc)
            if not self.responding:
                self._error(500, "HTTP processing error")
            return
        if not self.responding:
            assert status is not None
            self.responding = True
            self.ctx.metrics.response_started(self.ctx.clock.seconds() - self.started)
            self.setResponseCode(status)
            self.responseHeaders.setRawHeaders(b"server", [b"Daphne"])
            for name, value in headers:
                self.responseHeaders.addRawHeader(name, value)
        if content:
            self.write(content)
        if not more:
            self._end(logged=True)
            self.finish()

    def _error(self, status: int, detail: str) -> None:
        if self.ended or self.responding:
            return
        body = error_body(status, detail)
        self.setResponseCode(status)
        self.setHeader(b"content-type", b"text/html; charset=utf-8")
        if status == 503:
            self.setHeader(b"retry-after", b"1")
        self.write(body)
        self._end(logged=True)
        self.finish()

    def fail_waiting(self) -> bool:
        """The layer was lost: a stream still waiting for its response gets 503 now (True if it was waiting)."""
        if self.ended or self.responding or not self.reply_channel:
            return False
        self.ctx.metrics.refused("layer_unavailable")
        self._error(503, "Channel layer unavailable.")
        return True

    def _end(self, logged: bool = False) -> None:
        self._release_body()
        if self.ended:
            return
        self.ended = True
        ctx = self.ctx
        ctx.http_sweep.discard(self)
        if self.reply_channel:
            ctx.unregister(self.reply_channel)
        if logged:
            ctx.metrics.response(self.code)
        if logged and ctx.access_log is not None:
            ctx.access_log.http(
                peer_of(self.getClientAddress()),
                self.method.decode("ascii", "replace"),
                self.uri.decode("latin-1"),
                self.code,
                self.sentLength,
                ctx.clock.seconds() - self.started,
            )

    def sweep(self, now: float) -> None:
        timeout = self.ctx.http_timeout
        if timeout is not None and not self.responding and now - self.started > timeout:
            if not self.ended:
                self.ctx.metrics.refused("timeout")
            self._error(503, "Worker server failed to respond within time limit.")

    def connectionLost(self, reason: Any) -> None:
        if not self.ended and self.reply_channel:
            self.ctx.notify("http.disconnect", http_disconnect_message(self.reply_channel, self.asgi_path))
        self._end()
        super().connectionLost(reason)
