"""Django views behind ASGI 1 ``http.request`` messages: ``AsgiHandler`` and ``ViewConsumer``.

``AsgiHandler(message)`` is a generator of response messages (reference §2.3, §5.9): the first carries
``status`` and ``headers``; bodies are cut into 512 KiB chunks with ``more_content``; a streaming response
sends each part as it is produced and ends with ``{"more_content": False}``. ``ViewConsumer`` sends
them, one by one, straight to the reply channel.

Differences from Channels 1.1.8, on purpose:

* ``ViewConsumer`` does not retry a full reply channel forever: it backs off (the ``FULL`` schedule of
  :mod:`channellayer.retry`, 10 ms doubling to 500 ms) for at most :attr:`ViewConsumer.reply_full_timeout` seconds (default 30), then logs one warning naming
  the channel and abandons the response, so a vanished client cannot pin a worker.
* A view's ``ResponseLater`` is caught before exception middleware sees it, so middleware that turns
  exceptions into responses no longer breaks it (channels#524). Middleware ``process_response`` still
  runs (a session the view changed is saved); nothing is sent.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Generator, Iterator
from typing import Any

from django import http
from django.conf import settings
from django.core import signals
from django.core.handlers import base
from django.urls import set_script_prefix

from channellayer import BaseChannelLayer, ChannelFull, ChannelPaused, MemoryChannelLayer
from channellayer.retry import FULL

from .exceptions import RequestAborted, RequestTimeout, ResponseLater
from .request import AsgiRequest

__all__ = ["AsgiHandler", "AsgiRequest", "ViewConsumer"]

logger = logging.getLogger("django.request")
_log = logging.getLogger(__name__)

_CHUNK_SIZE = 512 * 1024
#: A streamed chunk waiting for room in the reply window: the server drains its list in milliseconds.
_WINDOW = FULL.with_(initial=0.001, maximum=0.01)


class _Deferred(http.HttpResponse):
    """Placeholder response for a view that raised ``ResponseLater``; never sent."""


class AsgiHandler(base.BaseHandler):
    """Runs one ``http.request`` message through Django's middleware and views.

    Calling it returns a generator of ASGI 1 response messages (possibly empty: ``ResponseLater``
    and ``RequestAborted`` send nothing). The generator closes the Django response when exhausted or
    closed, which sends ``request_finished``.
    """

    request_class = AsgiRequest

    #: Size of each response message's ``content`` (1.1.8: 512 KiB).
    chunk_size = _CHUNK_SIZE

    def __init__(self) -> None:
        super().__init__()
        self.load_middleware()

    def __call__(self, message: Any) -> Generator[dict[str, Any], None, None]:
        set_script_prefix(message.get("root_path", "") or "")
        signals.request_started.send(sender=self.__class__, message=message)
        try:
            request = self.request_class(message)
        except UnicodeDecodeError:
            logger.warning("Bad Request (UnicodeDecodeError)", exc_info=True, extra={"status_code": 400})
            response: http.HttpResponseBase = http.HttpResponseBadRequest()
        except RequestTimeout:
            response = http.HttpResponse("408 Request Timeout (upload too slow)", status=408)
        except RequestAborted:
            signals.request_finished.send(sender=self.__class__)
            return
        else:
            response = self._respond(request)
            if getattr(request, "_channels_response_later", False):
                response.close()
                return
            if isinstance(response, http.FileResponse):
                response.block_size = self.chunk_size
        response._handler_class = self.__class__
        try:
            yield from self.encode_response(response)
        finally:
            response.close()

    def _respond(self, request: AsgiRequest) -> http.HttpResponseBase:
        try:
            return self.get_response(request)
        except Exception:
            # Django's own error handling failed (e.g. handler500 raised, or
            # DEBUG_PROPAGATE_EXCEPTIONS): there is no server above us to catch it.
            logger.exception("Internal Server Error: %s", request.path, extra={"status_code": 500})
            return http.HttpResponseServerError(
                traceback.format_exc() if settings.DEBUG else "Internal Server Error",
                content_type="text/plain",
            )

    def process_exception_by_middleware(self, exception: Exception, request: Any) -> Any:
        """Catch ``ResponseLater`` before exception middleware can turn it into a response."""
        if isinstance(exception, ResponseLater):
            request._channels_response_later = True
            return _Deferred()
        return super().process_exception_by_middleware(exception, request)

    @classmethod
    def encode_response(cls, response: http.HttpResponseBase) -> Iterator[dict[str, Any]]:
        """Yield the ASGI 1 Response message and Response Chunks for a Django response.

        Header names keep Django's case; cookies become ``Set-Cookie`` headers whose value keeps the
        leading space 1.1.8 sent (``b" sessionid=abc; Path=/"``).
        """
        headers: list[tuple[bytes, bytes]] = []
        for name, value in response.items():
            headers.append(
                (
                    name.encode("ascii") if isinstance(name, str) else bytes(name),
                    value.encode("latin1") if isinstance(value, str) else bytes(value),
                )
            )
        for cookie in response.cookies.values():
            headers.append((b"Set-Cookie", cookie.output(header="").encode("latin1")))
        message: dict[str, Any] = {"status": response.status_code, "headers": headers}
        if response.streaming:
            # Iterate the response itself (not streaming_content) so subclasses that override
            # __iter__ are honoured; a part's "last chunk" is not the end of the stream.
            for part in response:
                for chunk, _last in cls.chunk_bytes(part):
                    message["content"] = chunk
                    message["more_content"] = True
                    yield message
                    message = {}
            message["more_content"] = False
            yield message
        else:
            for chunk, last in cls.chunk_bytes(response.content):
                message["content"] = chunk
                message["more_content"] = not last
                yield message
                message = {}

    @classmethod
    def chunk_bytes(cls, data: bytes) -> Iterator[tuple[bytes, bool]]:
        """Yield ``(chunk, is_last)`` pieces of ``data`` of at most :attr:`chunk_size` bytes."""
        if not data:
            yield data, True
            return
        position = 0
        while position < len(data):
            yield data[position : position + cls.chunk_size], position + cls.chunk_size >= len(data)
            position += cls.chunk_size


class ViewConsumer:
    """The default ``http.request`` consumer: Django views through :class:`AsgiHandler`.

    Each response message is sent at once (``immediately=True``, bypassing consumer atomicity, so a
    streaming response is not buffered whole). A full reply channel is retried with backoff for at
    most :attr:`reply_full_timeout` seconds; then the response is abandoned with a warning.
    """

    handler_class: type[AsgiHandler] = AsgiHandler

    #: Seconds one response message may keep meeting ChannelFull before the response is dropped.
    reply_full_timeout: float = 30.0
    #: A streamed response's chunks after the first are sent only while the reply list holds fewer
    #: messages than this (flow control on the reply path; docs/channel-layers.md).
    stream_window: int = 4
    #: Seconds a chunk waits for the window before the channel's own capacity applies instead.
    stream_window_wait: float = 0.25
    #: Seconds one response may wait in all for a client that stopped reading (ChannelPaused); after
    #: that its chunks ignore the pause, so a client that never reads costs a worker at most this long.
    stream_pause_limit: float = 10.0
    #: How a reply waits between attempts and tells the time (tests inject fakes).
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self) -> None:
        self.handler = self.handler_class()

    def __call__(self, message: Any, **kwargs: Any) -> None:
        replies = self.handler(message)
        paused_budget = [self.stream_pause_limit]  # seconds this response may still wait for a paused client
        try:
            for reply in replies:
                if not self._send(message, reply, paused_budget):
                    _log.warning(
                        "Reply channel %s stayed full for %.0fs; abandoning the response",
                        message.reply_channel.name,
                        self.reply_full_timeout,
                    )
                    return
        finally:
            replies.close()

    def _send(self, message: Any, reply: dict[str, Any], paused_budget: list[float] | None = None) -> bool:
        layer = message.channel_layer
        full_error = getattr(layer, "ChannelFull", ChannelFull)
        deadline = self.clock() + self.reply_full_timeout
        # A stream's later chunks go only while the reply list holds fewer than stream_window
        # messages, so replies to other connections of the same interface server never queue
        # behind more than a few chunks; that wait is short (the server drains in milliseconds).
        # The in-memory layer is read in-process (tests read replies after the consumer returns), and
        # a list nobody drains (a stopped server) gets the normal capacity rule after stream_window_wait.
        backend = getattr(layer, "channel_layer", layer)  # the ChannelLayerWrapper's layer
        windowed = (
            "status" not in reply
            and isinstance(backend, BaseChannelLayer)
            and not isinstance(backend, MemoryChannelLayer)
        )
        window_until = self.clock() + self.stream_window_wait
        attempts = (_WINDOW if windowed else FULL).attempts(deadline=deadline, clock=self.clock)
        while True:
            try:
                if windowed:
                    backend.send(message.reply_channel.name, reply, capacity=self.stream_window)
                else:
                    message.reply_channel.send(reply, immediately=True)
                return True
            except full_error as exc:
                now = self.clock()
                paused = isinstance(exc, ChannelPaused)
                if paused and paused_budget is not None and paused_budget[0] <= 0:
                    # This client has had its stream_pause_limit: stop waiting for it (a client that never
                    # reads must not pin a worker); the server's --write-buffer-limit bounds it from here.
                    windowed, attempts = False, FULL.attempts(deadline=deadline, clock=self.clock)
                    continue
                if paused:  # the client is not reading: wait for it, do not fall back to full capacity
                    window_until = now + self.stream_window_wait
                elif windowed and now >= window_until:
                    windowed, attempts = False, FULL.attempts(deadline=deadline, clock=self.clock)
                    continue
                delay = attempts.next_delay()
                if delay is None:
                    return False
                self.sleep(delay)
                if paused and paused_budget is not None:
                    paused_budget[0] -= delay
