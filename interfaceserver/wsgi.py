"""``WsgiToAsgiAdapter``: a WSGI application that serves each request through ASGI 1 workers.

Legacy deployments point gunicorn or uWSGI at it instead of Django's WSGI handler
(docs/wsgi-adapter.md), so that plain HTTP keeps its familiar WSGI front end while the code runs
in ``runworker`` processes, exactly as behind Daphne.

Per request: the environ becomes an ``http.request`` message (:func:`request_message`, pure) with
a reply channel ``<process prefix>!<local>``; a body larger than ``body_threshold`` goes out in
``http.request.body?…`` chunks over a ``body_channel`` instead of in one message; the reply is
taken from the process's single :class:`~interfaceserver.wsgi_replies.ReplyReader` and the
response is returned as an iterable that yields ``content`` chunks while ``more_content`` is set.

Failure answers: ChannelFull or BackendUnavailable on the request send → 503 with Retry-After; no
response within ``http_timeout`` → 503; a body over ``max_body_size`` → 413; a malformed reply →
500. After the response has started, a stall longer than ``chunk_timeout`` or a lost layer aborts
the body (the server then closes the connection), since a status can no longer be sent.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from channellayer import BackendUnavailable, ChannelFull, MessageTooLarge
from channellayer.messages import HttpDisconnect, HttpRequest, HttpRequestBodyChunk
from channellayer.retry import FULL

from .errorpage import error_html
from .errors import ReplyError
from .messages import build_http_request, parse_response
from .wsgi_replies import BACKEND_DOWN, OVERFLOW, ReplyReader

__all__ = ["WsgiToAsgiAdapter", "request_message", "response_headers", "status_line"]

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]

#: Response headers a WSGI application must not set (PEP 3333): the server owns the connection.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_READ_SIZE = 64 * 1024


def _wsgi_text(value: str) -> str:
    # PEP 3333 hands over bytes as latin-1 code points; the path itself is UTF-8 (as Daphne decodes it).
    return value.encode("latin-1").decode("utf-8", "replace")


def _request_path(environ: dict[str, Any]) -> str:
    return _wsgi_text(environ.get("SCRIPT_NAME", "")) + _wsgi_text(environ.get("PATH_INFO", "")) or "/"


def request_message(
    environ: dict[str, Any], reply_channel: str, body: bytes = b"", body_channel: str | None = None
) -> HttpRequest:
    """The ``http.request`` message for a WSGI ``environ`` (pure; :func:`~interfaceserver.messages.build_http_request`).

    ``path`` is ``SCRIPT_NAME + PATH_INFO`` and ``root_path`` is ``SCRIPT_NAME``, both text (the
    asgiref 1.x adapter sent bytes). Headers come from ``HTTP_*`` plus ``CONTENT_TYPE`` and
    ``CONTENT_LENGTH``, as lowercased ``[bytes, bytes]`` pairs; WSGI has already joined duplicates.
    """
    headers: list[list[bytes]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if not value:
                continue
            name = key
        else:
            continue
        headers.append([name.lower().replace("_", "-").encode("latin-1"), str(value).encode("latin-1")])
    protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.0")
    client = None
    if environ.get("REMOTE_ADDR"):
        client = [environ["REMOTE_ADDR"], int(environ.get("REMOTE_PORT") or 0)]
    server = None
    if environ.get("SERVER_NAME") and str(environ.get("SERVER_PORT", "")).isdigit():
        server = [environ["SERVER_NAME"], int(environ["SERVER_PORT"])]
    return build_http_request(
        reply_channel=reply_channel,
        http_version=protocol.split("/", 1)[-1] if protocol.startswith("HTTP/") else "1.0",
        method=environ.get("REQUEST_METHOD", "GET").upper(),
        path=_request_path(environ),
        root_path=_wsgi_text(environ.get("SCRIPT_NAME", "")),
        scheme=environ.get("wsgi.url_scheme", "http"),
        query_string=environ.get("QUERY_STRING", "").encode("latin-1"),
        headers=headers,
        body=body,
        body_channel=body_channel,
        client=client,
        server=server,
    )


def status_line(status: int) -> str:
    """``"200 OK"``: the standard reason phrase (``status_text`` is ignored, as Daphne did)."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown Status"


def response_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """WSGI header pairs (latin-1 text) from a Response's, without the hop-by-hop ones WSGI forbids."""
    pairs = []
    for name, value in headers:
        text = name.decode("latin-1")
        if text.lower() not in _HOP_BY_HOP:
            pairs.append((text, value.decode("latin-1")))
    return pairs


def _error(start_response: StartResponse, status: int, detail: str, retry_after: int | None = None) -> list[bytes]:
    title = status_line(status)
    body = error_html(title, detail)
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    start_response(title, headers)
    return [body]


class _RequestFailed(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _BodyReader:
    """Reads ``wsgi.input`` in pieces: exactly CONTENT_LENGTH bytes, or to EOF for a terminated chunked input."""

    def __init__(self, environ: dict[str, Any], max_body_size: int | None) -> None:
        self.stream = environ.get("wsgi.input")
        length = environ.get("CONTENT_LENGTH")
        self.remaining: int | None
        if length:
            try:
                self.remaining = int(length)
            except ValueError:
                raise _RequestFailed(400, f"Invalid Content-Length {length!r}") from None
        elif environ.get("wsgi.input_terminated") or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            self.remaining = None  # read to EOF
        else:
            self.remaining = 0
        if self.stream is None:
            self.remaining = 0
        if max_body_size is not None and self.remaining is not None and self.remaining > max_body_size:
            raise _RequestFailed(413, f"Request body of {self.remaining} bytes exceeds the {max_body_size} byte limit")
        self.max_body_size = max_body_size
        self.total = 0

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; fewer only at the end of the body."""
        parts = []
        wanted = size
        while wanted > 0 and self.remaining != 0:
            step = min(wanted, _READ_SIZE) if self.remaining is None else min(wanted, _READ_SIZE, self.remaining)
            data = self.stream.read(step)  # type: ignore[union-attr]
            if not data:
                if self.remaining is not None:
                    raise _RequestFailed(400, "Client closed the connection before sending the whole body")
                self.remaining = 0
                break
            parts.append(data)
            wanted -= len(data)
            self.total += len(data)
            if self.remaining is not None:
                self.remaining -= len(data)
            if self.max_body_size is not None and self.total > self.max_body_size:
                raise _RequestFailed(413, f"Request body exceeds the {self.max_body_size} byte limit")
        return b"".join(parts)

    @property
    def done(self) -> bool:
        return self.remaining == 0


class WsgiToAsgiAdapter:
    """A WSGI application forwarding every request to ASGI 1 workers over ``channel_layer``.

    Safe to share between the threads of a WSGI process; each process (after a fork, too) gets
    its own reply channel prefix and reader thread. Timeouts are in seconds.
    """

    def __init__(
        self,
        channel_layer: Any,
        *,
        channel_prefix: str = "wsgi.response.",
        http_timeout: float = 120.0,
        chunk_timeout: float | None = None,
        body_threshold: int = 512 * 1024,
        max_body_size: int | None = 100 * 1024 * 1024,
        body_send_timeout: float = 10.0,
        retry_after: int = 1,
        queue_size: int = 64,
    ) -> None:
        if not 0 < body_threshold <= 900 * 1024:
            raise ValueError(
                f"body_threshold must be between 1 and 921600 bytes (the layer's message limit "
                f"is 1 MiB), not {body_threshold!r}"
            )
        if http_timeout <= 0:
            raise ValueError(f"http_timeout must be positive, not {http_timeout!r}")
        self.channel_layer = channel_layer
        self.channel_prefix = channel_prefix
        self.http_timeout = http_timeout
        self.chunk_timeout = chunk_timeout if chunk_timeout is not None else http_timeout
        self.body_threshold = body_threshold
        self.max_body_size = max_body_size
        self.body_send_timeout = body_send_timeout
        self.retry_after = retry_after
        self.queue_size = queue_size
        self._reader: ReplyReader | None = None
        self._reader_lock = threading.Lock()

    @property
    def reader(self) -> ReplyReader:
        """This process's reply reader (a new one after a fork: threads do not survive it)."""
        with self._reader_lock:
            if self._reader is None or self._reader.pid != os.getpid():
                self._reader = ReplyReader(
                    self.channel_layer, channel_prefix=self.channel_prefix, queue_size=self.queue_size
                )
            return self._reader

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        reader = self.reader
        reply_channel, replies = reader.register()
        try:
            first = self._forward(environ, reply_channel, replies)
            status, headers, content, more = parse_response(first, started=False)
        except _RequestFailed as exc:
            reader.unregister(reply_channel)
            retry = self.retry_after if exc.status == 503 else None
            return _error(start_response, exc.status, exc.detail, retry)
        except ReplyError as exc:
            reader.unregister(reply_channel)
            logger.error("HTTP/WS send decode error on %s: %s", reply_channel, exc)
            return _error(start_response, 500, "HTTP processing error")
        except BaseException:
            reader.unregister(reply_channel)
            raise
        assert status is not None
        try:
            start_response(status_line(status), response_headers(headers))
        except BaseException:
            reader.unregister(reply_channel)
            raise
        return _ResponseBody(self, reply_channel, replies, environ, content, more)

    def _forward(
        self, environ: dict[str, Any], reply_channel: str, replies: queue.Queue[dict[str, Any]]
    ) -> dict[str, Any]:
        """Send the request (and its body chunks); return the first reply message."""
        body = _BodyReader(environ, self.max_body_size)
        first_part = body.read(self.body_threshold)
        body_channel = None
        if not body.done:
            body_channel = self._call(self.channel_layer.new_channel, "http.request.body?")
        message = request_message(environ, reply_channel, first_part, body_channel)
        try:
            self._call(self.channel_layer.send, "http.request", message)
        except ChannelFull:
            raise _RequestFailed(503, "Request queue full.") from None
        except MessageTooLarge as exc:
            raise _RequestFailed(431, f"Request headers too large: {exc}") from None
        if body_channel is not None:
            self._stream_body(body, body_channel)
        return self._next_reply(replies, self.http_timeout, started=False)

    def _stream_body(self, body: _BodyReader, body_channel: str) -> None:
        while True:
            try:
                content = body.read(self.body_threshold)
            except _RequestFailed:
                self._send_chunk(body_channel, {"closed": True})
                raise
            self._send_chunk(body_channel, {"content": content, "more_content": not body.done})
            if body.done:
                return

    def _send_chunk(self, body_channel: str, chunk: HttpRequestBodyChunk) -> None:
        # The spec says a server waits and retries on a full body channel; we wait a bounded time,
        # on the FULL schedule (the worker reading the body is alive and usually catches up soon).
        attempts = FULL.attempts(deadline=time.monotonic() + self.body_send_timeout)
        while True:
            try:
                self._call(self.channel_layer.send, body_channel, chunk)
                return
            except ChannelFull:
                delay = attempts.next_delay()
                if delay is None:
                    raise _RequestFailed(503, "Worker did not read the request body in time.") from None
                time.sleep(delay)

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except BackendUnavailable as exc:
            logger.warning("Channel layer unavailable: %s", exc)
            raise _RequestFailed(503, "Channel layer unavailable.") from None

    def _next_reply(self, replies: queue.Queue[dict[str, Any]], timeout: float, started: bool) -> dict[str, Any]:
        try:
            message = replies.get(timeout=timeout)
        except queue.Empty:
            if started:
                raise _RequestFailed(503, "Worker stopped sending the response.") from None
            raise _RequestFailed(503, "Worker server failed to respond within time limit.") from None
        if message is BACKEND_DOWN:
            raise _RequestFailed(503, "Channel layer unavailable.")
        if message is OVERFLOW:
            raise _RequestFailed(503, "Response outran the client.")
        return message


class _ResponseBody:
    """The WSGI response iterable: the first content, then each Response Chunk until ``more_content`` ends."""

    def __init__(
        self,
        adapter: WsgiToAsgiAdapter,
        reply_channel: str,
        replies: queue.Queue[dict[str, Any]],
        environ: dict[str, Any],
        content: bytes,
        more: bool,
    ) -> None:
        self.adapter = adapter
        self.reply_channel = reply_channel
        self.replies = replies
        self.path = _request_path(environ)
        self.first = content
        self.more = more
        self.finished = not more

    def __iter__(self) -> Iterator[bytes]:
        if self.first:
            yield self.first
        self.first = b""
        while self.more:
            try:
                message = self.adapter._next_reply(self.replies, self.adapter.chunk_timeout, started=True)
                _, _, content, self.more = parse_response(message, started=True)
            except (_RequestFailed, ReplyError) as exc:
                # Too late for a status line: end the body early so the server drops the connection.
                raise ConnectionAbortedError(f"response on {self.reply_channel} aborted: {exc}") from None
            if content:
                yield content
        self.finished = True

    def close(self) -> None:
        self.adapter.reader.unregister(self.reply_channel)
        if not self.finished:
            # The client went away (or the body failed) mid-response: tell the application, as Daphne did.
            disconnect: HttpDisconnect = {"reply_channel": self.reply_channel, "path": self.path}
            try:
                self.adapter.channel_layer.send("http.disconnect", disconnect)
            except (ChannelFull, BackendUnavailable):
                pass
