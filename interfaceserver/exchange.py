"""One HTTP request and its response on an HTTP/1.x connection (Twisted side, no parsing).

The connection feeds the exchange the parsed head, body pieces and the end of the body; the
exchange sends ``http.request`` (whole body up to ``body_stream_threshold``, otherwise the first
part plus a ``body_channel`` carrying the rest in order, one chunk in flight at a time, retrying on
ChannelFull with the client's reading paused), then writes the reply messages it is handed by the
reply table. Timeouts: ``http_timeout`` answers 503 only while no response has started — a
streaming response may outlive it (the Daphne 1.4.2 bug of §4.4 cannot happen here because the
check is a state test, not an exception path).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from twisted.python.failure import Failure

from channellayer import BackendUnavailable
from channellayer.messages import HttpRequest
from channellayer.retry import FULL, Attempts

from .errors import ReplyError
from .http11 import RequestHead
from .lifecycle import LIVE_HTTP, HttpEvent, HttpState, advance
from .messages import forwarded, http_disconnect_message, http_request_message, parse_response
from .responses import LAST_CHUNK, NO_BODY_STATUSES, chunk, error_page, response_head

if TYPE_CHECKING:
    from .seam import ClientSocket, HttpServices

__all__ = ["Exchange"]

logger = logging.getLogger("interfaceserver")

#: Replies up to this size are written as one buffer (head and body in one segment).
_COALESCE_LIMIT = 64 * 1024
_RETRY_AFTER = [(b"Retry-After", b"1")]
#: A body chunk that met a full body channel is sent again after 50 ms, doubling up to 1 s: the FULL
#: shape with a later start and cap, since every attempt ships the whole chunk (up to
#: body_stream_threshold bytes) to the layer again.
_CHUNK_RETRY = FULL.with_(initial=0.05, maximum=1.0)
_CLOSED_BODY = {"content": b"", "closed": True, "more_content": False}


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The application's Content-Length (None without one, or when it is not a plain number)."""
    for name, value in headers:
        if name.lower() == b"content-length":
            value = value.strip()
            return int(value) if value.isdigit() else None
    return None


class Exchange:
    """State of one request/response; see the module docstring."""

    __slots__ = (
        "conn",
        "ctx",
        "head",
        "path",
        "state",
        "reply_channel",
        "started",
        "body",
        "body_size",
        "body_done",
        "body_channel",
        "chunk_in_flight",
        "retries",
        "keep_alive",
        "chunked",
        "status",
        "sent",
        "head_request",
        "declared",
        "overrun",
        "held",
        "flow_paused",
    )

    def __init__(self, conn: ClientSocket, ctx: HttpServices, head: RequestHead, path: str) -> None:
        self.conn = conn
        self.ctx = ctx
        self.head = head
        self.path = path
        self.state = HttpState.READING_BODY
        self.reply_channel = ""
        self.started = ctx.clock.seconds()
        self.body: list[bytes] = []
        self.held = 0  # bytes of ``body`` taken from the process's body budget
        self.body_size = 0
        self.body_done = False
        self.body_channel: str | None = None
        self.chunk_in_flight = False
        self.retries: Attempts | None = None  # while a chunk meets a full body channel
        self.keep_alive = head.keep_alive
        self.chunked = False
        self.status: int | None = None
        self.sent = 0
        self.head_request = head.method == b"HEAD"
        self.flow_paused = False
        #: The application's Content-Length for a body we write, or None (we frame the body ourselves).
        self.declared: int | None = None
        self.overrun = False
        ctx.http_sweep.add(self)

    @property
    def live(self) -> bool:
        return self.state in LIVE_HTTP

    # -- request side ------------------------------------------------------------------------

    def body_received(self, data: bytes) -> None:
        if not self.live:
            return  # already answered (413, 408, 503): the connection is closing
        config = self.ctx.config
        self.body_size += len(data)
        if self.body_size > config.max_request_body:
            self.fail(413, f"Request body larger than {config.max_request_body} bytes")
            return
        if not self.ctx.body_budget.take(len(data)):
            self.ctx.metrics.refused("body_budget")
            self.fail(503, "Server busy: too many request bodies in memory.", _RETRY_AFTER)
            return
        self.held += len(data)
        self.body.append(data)
        if self.state == HttpState.READING_BODY and self.body_size > config.body_stream_threshold:
            self._start_streaming()
        elif self.state == HttpState.STREAMING_BODY:
            self._pump()

    def body_ended(self) -> None:
        self.body_done = True
        if self.state == HttpState.READING_BODY:
            self.state = advance(self.state, HttpEvent.SEND)
            body = b"".join(self.body)
            self._keep_body([])
            self._send_request(body, None)
        elif self.state == HttpState.STREAMING_BODY or self.body_channel is not None:
            self._pump()

    def _keep_body(self, pieces: list[bytes]) -> None:
        """Hold only ``pieces`` of the body from now on; what was handed on goes back to the budget."""
        self.body = pieces
        kept = sum(map(len, pieces))
        if kept != self.held:
            self.ctx.body_budget.give(self.held - kept)
            self.held = kept

    def _message(self, body: bytes, body_channel: str | None) -> HttpRequest:
        conn = self.conn
        client, server, scheme = conn.addresses()
        ctx = self.ctx
        self.reply_channel = ctx.register(self)
        return http_request_message(
            self.head,
            reply_channel=self.reply_channel,
            client=client,
            server=server,
            scheme=scheme,
            root_path=ctx.config.root_path,
            proxy_headers=conn.proxy_trusted(),
            body=body,
            body_channel=body_channel,
        )

    def _send_request(self, body: bytes, body_channel: str | None) -> None:
        try:
            message = self._message(body, body_channel)
        except Exception as exc:
            logger.exception("HTTP processing error")
            self.fail(500, f"HTTP processing error: {exc}")
            return
        self.ctx.io.send("http.request", message).addCallbacks(self._request_sent, self._request_failed)

    def _request_sent(self, delivered: bool) -> None:
        if not delivered and self.state not in (HttpState.RESPONDING, HttpState.COMPLETE, HttpState.FAILED):
            self.ctx.metrics.refused("queue_full")
            self.fail(503, "Request queue full.", _RETRY_AFTER)

    def _request_failed(self, failure: Failure) -> None:
        if failure.check(BackendUnavailable):
            self.ctx.warn("layer", "Channel layer unavailable: %s", failure.value)
            self.ctx.metrics.refused("layer_unavailable")
            self.fail(503, "Channel layer unavailable.", _RETRY_AFTER)
        else:
            logger.error("HTTP processing error: %s", failure.getErrorMessage())
            self.fail(500, "HTTP processing error")

    def _start_streaming(self) -> None:
        self.state = advance(self.state, HttpEvent.STREAM)
        self.conn.pause_reading()
        self.ctx.io.new_channel("http.request.body?").addCallbacks(self._got_body_channel, self._request_failed)

    def _got_body_channel(self, name: str) -> None:
        if self.state != HttpState.STREAMING_BODY:
            return
        self.body_channel = name
        threshold = self.ctx.config.body_stream_threshold
        data = b"".join(self.body)
        self._keep_body([data[threshold:]] if len(data) > threshold else [])
        self._send_request(data[:threshold], name)
        self.chunk_in_flight = False
        self._pump()

    def _pump(self) -> None:
        """Send the next body chunk if none is in flight; pause the client while chunks pile up."""
        if self.body_channel is None or self.chunk_in_flight or not self.live:
            return
        threshold = self.ctx.config.body_stream_threshold
        pending = sum(len(piece) for piece in self.body)
        if pending < threshold and not self.body_done:
            self.conn.resume_reading()
            return
        data = b"".join(self.body)
        piece, rest = data[:threshold], data[threshold:]
        self._keep_body([rest] if rest else [])
        more = bool(rest) or not self.body_done
        self.chunk_in_flight = True
        self.conn.pause_reading()
        self._send_chunk({"content": piece, "closed": False, "more_content": more}, more)

    def _send_chunk(self, message: dict[str, Any], more: bool) -> None:
        assert self.body_channel is not None
        self.ctx.io.send(self.body_channel, message).addCallbacks(
            lambda delivered: self._chunk_sent(delivered, message, more), self._request_failed
        )

    def _chunk_sent(self, delivered: bool, message: dict[str, Any], more: bool) -> None:
        if not self.live:
            return
        if not delivered:  # the spec: on ChannelFull, wait and retry (the client stays paused)
            if self.retries is None:
                self.retries = _CHUNK_RETRY.attempts()
            delay = self.retries.next_delay()
            assert delay is not None  # a schedule without a deadline never runs out; http_timeout bounds the wait
            self.ctx.clock.callLater(delay, self._send_chunk, message, more)
            return
        self.retries = None
        self.chunk_in_flight = False
        if not more:
            if self.state == HttpState.STREAMING_BODY:
                self.state = advance(self.state, HttpEvent.BODY_DONE)
            self.conn.resume_reading()
            return
        self._pump()

    # -- response side -----------------------------------------------------------------------

    def on_reply(self, message: dict[str, Any]) -> None:
        if not self.live:
            return
        started = self.state == HttpState.RESPONDING
        try:
            status, headers, content, more = parse_response(message, started)
        except ReplyError as exc:
            logger.error("HTTP/WS send decode error: %s", exc)
            if not started:
                self.fail(500, "HTTP processing error")
            return
        conn = self.conn
        # Head, body and last chunk of one reply leave in one write (one segment for small replies).
        out: list[bytes] = []
        if not started:
            assert status is not None
            self.status = status
            self.ctx.metrics.response_started(self.ctx.clock.seconds() - self.started)
            keep_alive = self.keep_alive and not self.ctx.draining and (self.body_done or self.body_channel is None)
            data, self.chunked, self.keep_alive = response_head(
                self.head.http_version,
                status,
                headers,
                body_length=None if more or self.head_request else len(content),
                keep_alive=keep_alive,
                head_request=self.head_request,
            )
            self.state = advance(self.state, HttpEvent.RESPOND if more else HttpEvent.RESPOND_ALL)
            out.append(data)
            if not self.head_request and status not in NO_BODY_STATUSES:
                self.declared = _declared_length(headers)
        if content and not self.head_request and self.status not in (204, 304):
            content = self._within_declared(content)
            self.sent += len(content)
            if content:
                out.append(chunk(content) if self.chunked else content)
        if started and not more:
            self.state = advance(self.state, HttpEvent.FINISH)
        complete = self.state == HttpState.COMPLETE
        if complete and self.declared is not None and self.sent < self.declared:
            # The client waits for bytes that never come; only closing ends its response (and keeps
            # the next response on this connection from being misread).
            logger.warning(
                "HTTP response on %s ended %d bytes short of its Content-Length %d; closing the connection",
                self.reply_channel,
                self.declared - self.sent,
                self.declared,
            )
            self.keep_alive = False
        if complete and self.chunked:
            out.append(LAST_CHUNK)
        if sum(map(len, out)) <= _COALESCE_LIMIT:
            conn.write(b"".join(out))
        else:  # a large body is not worth a copy; TCP_NODELAY keeps the separate writes from stalling
            for piece in out:
                conn.write(piece)
        if complete:
            self._done()

    def _within_declared(self, content: bytes) -> bytes:
        """``content`` cut to what the declared Content-Length still allows (surplus bytes are never sent)."""
        declared = self.declared
        if declared is None or self.sent + len(content) <= declared:
            return content
        if not self.overrun:  # one line per response, however many replies overrun
            self.overrun = True
            logger.warning(
                "HTTP response on %s is longer than its Content-Length %d; the surplus is dropped",
                self.reply_channel,
                declared,
            )
        return content[: declared - self.sent]

    def flow_pause(self, paused: bool) -> None:
        """Tell windowed senders of this response to wait (the client stopped reading) or go on."""
        if paused == self.flow_paused or not self.reply_channel:
            return
        self.flow_paused = paused
        channel = self.reply_channel

        def failed(failure: Failure) -> None:
            logger.warning(
                "Could not %s the stream on %s: %s", "pause" if paused else "resume", channel, failure.getErrorMessage()
            )

        self.ctx.io.pause(channel, paused).addErrback(failed)

    def _done(self) -> None:
        self.flow_pause(False)
        ctx = self.ctx
        ctx.http_sweep.discard(self)
        self._keep_body([])
        if self.reply_channel:
            ctx.unregister(self.reply_channel)
        if self.status is not None:
            ctx.metrics.response(self.status)
        if ctx.access_log is not None and self.status is not None:
            client = self.conn.client()
            if self.conn.proxy_trusted():
                client, _ = forwarded(self.head.headers, client, "http")
            # Daphne logged the raw request target (query included) and the body bytes sent.
            target = self.head.target.decode("latin-1")
            ctx.access_log.http(
                client,
                self.head.method.decode("ascii"),
                target,
                self.status,
                self.sent,
                ctx.clock.seconds() - self.started,
            )
        # A body still arriving for an answered request cannot be skipped safely: close instead.
        keep_alive = self.keep_alive and self.body_done and self.state == HttpState.COMPLETE
        self.conn.exchange_finished(self, keep_alive)

    def fail(self, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        """Answer ``status`` if no response has started, else cut the connection; end the exchange."""
        if not self.live:
            return
        started = self.state == HttpState.RESPONDING
        self.state = advance(self.state, HttpEvent.FAIL)
        if not started:
            self.status = status
            page = error_page(status, detail, http_version=self.head.http_version, extra_headers=extra)
            self.sent = len(page) - page.index(b"\r\n\r\n") - 4
            self.conn.write(page)
        self._close_body_channel()
        self.keep_alive = False
        self._done()

    def sweep(self, now: float) -> None:
        """The http_timeout: 503 for a request still without a response; responding exchanges are left alone."""
        timeout = self.ctx.http_timeout
        if timeout is None or self.state == HttpState.RESPONDING or now - self.started <= timeout:
            return
        if self.state == HttpState.READING_BODY:
            self.fail(408, "Request body not received within time limit.")
        else:
            self.ctx.metrics.refused("timeout")
            self.fail(503, "Worker server failed to respond within time limit.")

    def connection_lost(self) -> None:
        """The client went away: tell the application (``http.disconnect``, and a closed body chunk)."""
        if not self.live:
            return
        self.flow_pause(False)
        ctx = self.ctx
        self.state = advance(self.state, HttpEvent.FAIL)
        ctx.http_sweep.discard(self)
        self._keep_body([])
        self._close_body_channel()
        if self.reply_channel:
            ctx.notify("http.disconnect", http_disconnect_message(self.reply_channel, self.path))
            ctx.unregister(self.reply_channel)

    def _close_body_channel(self) -> None:
        """Tell the application reading the body channel that no more of the body is coming."""
        if self.body_channel is not None and not self.body_done:
            self.ctx.notify(self.body_channel, dict(_CLOSED_BODY))
