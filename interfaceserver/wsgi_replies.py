"""One reply reader per process for the WSGI adapter: a thread that reads ``<prefix>!`` and hands out replies.

Theory of operation: every request in a WSGI process (gunicorn threads, uWSGI threads) waits for
its reply on ``<prefix>!<local>``, but no request reads the layer itself. A single daemon thread
does one blocking ``receive([prefix])`` after another and puts each message into the bounded
queue registered for its local name, so concurrent requests never steal each other's replies and
the process holds one blocking read however many requests are waiting. A message whose local name
is not registered (its request timed out or went away) is dropped, as Daphne does.

Backpressure: the reader drains the reply list as fast as replies come, so a per-request queue
bound (``queue_size`` messages) is what keeps a slow client from growing the process's memory. A
request whose queue is full is *failed* (it receives :data:`OVERFLOW` and its response is
aborted) instead of stalling the reader for every other request.

When the layer raises BackendUnavailable, every waiting request gets :data:`BACKEND_DOWN` at once
(so it can answer 503 instead of waiting for its timeout) and the reader retries after
``retry_delay`` seconds; the layer reconnects by itself.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import string
import threading
from typing import Any

from channellayer import BackendUnavailable

__all__ = ["BACKEND_DOWN", "OVERFLOW", "ReplyReader"]

logger = logging.getLogger(__name__)

#: Put into a waiting request's queue when the layer failed while it waited.
BACKEND_DOWN: dict[str, Any] = {"__wsgi_adapter__": "backend-down"}
#: Put into a request's queue (after draining it) when its replies outran its client.
OVERFLOW: dict[str, Any] = {"__wsgi_adapter__": "overflow"}


def _random_letters(count: int) -> str:
    return "".join(random.choices(string.ascii_letters, k=count))


class ReplyReader:
    """Reads the process reply list ``<channel_prefix><10 letters>!`` and dispatches by local name.

    ``register()`` before sending the request (a reply may arrive at once), ``unregister()`` when
    the response is finished. The thread starts with the first registration; ``run_once()`` is one
    step of its loop, for tests.
    """

    def __init__(
        self,
        channel_layer: Any,
        *,
        channel_prefix: str = "wsgi.response.",
        queue_size: int = 64,
        retry_delay: float = 1.0,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size!r}")
        self.layer = channel_layer
        self.prefix = f"{channel_prefix}{_random_letters(10)}!"
        self.queue_size = queue_size
        self.retry_delay = retry_delay
        self.pid = os.getpid()
        self._waiting: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self) -> tuple[str, queue.Queue[dict[str, Any]]]:
        """A new reply channel name and the queue its messages will arrive in."""
        replies: queue.Queue[dict[str, Any]] = queue.Queue(self.queue_size)
        with self._lock:
            while True:
                local = _random_letters(12)
                if local not in self._waiting:
                    break
            self._waiting[local] = replies
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"wsgi-replies {self.prefix}", daemon=True)
                self._thread.start()
        return self.prefix + local, replies

    def unregister(self, reply_channel: str) -> None:
        """Forget a reply channel; later messages for it are dropped."""
        with self._lock:
            self._waiting.pop(reply_channel[len(self.prefix) :], None)

    @property
    def waiting(self) -> int:
        """How many requests are registered (for tests and monitoring)."""
        return len(self._waiting)

    def run_once(self) -> bool:
        """Wait for one message (up to the layer's blocking timeout) and dispatch it; True if one came."""
        try:
            channel, message = self.layer.receive([self.prefix], block=True)
        except BackendUnavailable as exc:
            logger.warning(
                "Reply reader %s: channel layer unavailable (%s); failing waiting requests", self.prefix, exc
            )
            self._broadcast(BACKEND_DOWN)
            self._stopping.wait(self.retry_delay)
            return False
        if channel is None:
            return False
        self.dispatch(channel, message)
        return True

    def dispatch(self, channel: str, message: dict[str, Any]) -> None:
        """Hand ``message`` to the request waiting on ``channel``, or drop it if none is."""
        local = channel[len(self.prefix) :] if channel.startswith(self.prefix) else None
        with self._lock:
            replies = self._waiting.get(local) if local is not None else None
            if replies is None:
                logger.debug("Reply for unknown channel %s dropped", channel)
                return
            try:
                replies.put_nowait(message)
            except queue.Full:
                # The client reads slower than the application writes: give up on this one response
                # rather than buffer without bound or stall every other request's replies.
                del self._waiting[local]  # type: ignore[arg-type]
                logger.warning(
                    "Response on %s outran its client (%d messages queued); aborting it", channel, self.queue_size
                )
                self._replace_contents(replies, OVERFLOW)

    def close(self) -> None:
        """Stop the thread after its current receive (at most the layer's blocking timeout)."""
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:  # the reader must outlive any one bad message
                logger.exception("Reply reader %s: unexpected error", self.prefix)
                self._stopping.wait(self.retry_delay)

    def _broadcast(self, marker: dict[str, Any]) -> None:
        with self._lock:
            for replies in self._waiting.values():
                try:
                    replies.put_nowait(marker)  # after any chunks already queued
                except queue.Full:
                    self._replace_contents(replies, marker)

    @staticmethod
    def _replace_contents(replies: queue.Queue[dict[str, Any]], marker: dict[str, Any]) -> None:
        # Empty the queue so the marker always fits; the request stops reading after it.
        while True:
            try:
                replies.get_nowait()
            except queue.Empty:
                break
        replies.put_nowait(marker)
