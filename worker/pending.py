"""Consumer atomicity: sends made inside a consumer are held back and sent when it returns.

``consumer_started`` opens a per-thread buffer and ``consumer_finished`` sends what it holds, in
order, whether the consumer returned or raised (Channels 1.1.8 semantics). What differs from 1.1.8
is what happens when a send meets a full channel (channels#643): 1.1.8 retried for 2 s, then raised
``RuntimeError`` and lost the rest of the batch. Here a full channel is retried on the ``FULL``
schedule of :mod:`channellayer.retry` (10 ms doubling to 0.5 s) until the batch's deadline (:attr:`PendingMessageStore.retry_time`, 5 s by default); after
that the messages still waiting for that channel are dropped with **one** log line naming it, and
every other message of the batch is still delivered. A channel that gave up is not retried again in
the same batch, so the messages meant for it keep their order (none arrives after a dropped one).
An unavailable backend is retried the same way; a message that is too large is logged and skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from channellayer import BackendUnavailable, ChannelFull, MessageTooLarge
from channellayer.retry import FULL, Attempts

__all__ = ["PendingMessageStore", "Sender", "pending_message_store"]

logger = logging.getLogger("django.channels")


class Sender(Protocol):
    """A ``Channel`` or ``Group``: something with a name that can send right away."""

    name: str
    channel_layer: Any

    def send(self, content: dict[str, Any], immediately: bool = False) -> None: ...


class PendingMessageStore:
    """The per-thread buffer of sends made inside the running consumer.

    Class attributes are the knobs (set them, or the ``CHANNELS_BUFFERED_SEND_TIMEOUT`` setting /
    ``runworker --send-timeout``): ``retry_time`` bounds how long one batch keeps retrying,
    ``retry_interval`` (the 1.1.8 name) is the first backoff step, doubled up to
    ``max_retry_interval``; both default to the ``FULL`` schedule's.
    """

    threadlocal = threading.local()
    retry_time: float = 5.0
    retry_interval: float = FULL.initial
    max_retry_interval: float = FULL.maximum
    #: Injected for tests: how to wait between retries and what time it is.
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def prepare(self, **kwargs: Any) -> None:
        """Open an empty buffer for this thread (connected to ``consumer_started``)."""
        self.threadlocal.messages = []

    @property
    def active(self) -> bool:
        """True inside a consumer: sends made now are buffered."""
        return hasattr(self.threadlocal, "messages")

    def append(self, sender: Sender, message: dict[str, Any]) -> None:
        self.threadlocal.messages.append((sender, message))

    def discard(self) -> None:
        """Close this thread's buffer without sending (nothing is pending afterwards)."""
        if hasattr(self.threadlocal, "messages"):
            del self.threadlocal.messages

    def send_and_flush(self, **kwargs: Any) -> None:
        """Send everything buffered by this thread, then close the buffer (``consumer_finished``).

        Never raises for a full channel or an unavailable backend: those messages are retried
        until ``retry_time`` has passed since the flush began, then dropped with one log line per
        channel.
        """
        messages: list[tuple[Sender, dict[str, Any]]] = getattr(self.threadlocal, "messages", [])
        # Close the buffer first: a send made by a signal receiver while we flush goes straight out.
        self.discard()
        if not messages:
            return
        deadline = self.clock() + self.retry_time
        # retry_interval may be set above max_retry_interval (1.1.8 had no maximum): it then wins.
        backoff = FULL.with_(initial=self.retry_interval, maximum=max(self.retry_interval, self.max_retry_interval))
        dropped: dict[str, list[Any]] = {}
        for sender, message in messages:
            key = _describe(sender)
            if key in dropped:
                dropped[key][0] += 1
                continue
            reason = self._send_with_retry(sender, message, backoff.attempts(deadline=deadline, clock=self.clock))
            if reason is not None:
                dropped[key] = [1, reason]
        for key, (count, reason) in dropped.items():
            logger.error(
                "Dropped %d buffered message(s) for %s: %s after retrying for %.2fs. Consume this channel "
                "faster, raise its capacity, or send with immediately=True and handle ChannelFull yourself.",
                count,
                key,
                reason,
                self.retry_time,
            )

    def _send_with_retry(self, sender: Sender, message: dict[str, Any], attempts: Attempts) -> str | None:
        """Send one message, waiting out ``attempts`` between tries; None when it went out, else why it was given up."""
        # A layer class of the user's own may bring its own ChannelFull (the ASGI 1 convention).
        full: tuple[type[BaseException], ...] = (ChannelFull, getattr(sender.channel_layer, "ChannelFull", ChannelFull))
        while True:
            try:
                sender.send(message, immediately=True)
                return None
            except MessageTooLarge as exc:
                return f"the message is too large ({exc})"
            except full:
                reason = "the channel is still full"
            except BackendUnavailable as exc:
                reason = f"the channel layer is unavailable ({exc})"
            delay = attempts.next_delay()
            if delay is None:
                return reason
            self.sleep(delay)


def _describe(sender: Sender) -> str:
    kind = "group" if type(sender).__name__ == "Group" else "channel"
    return f"{kind} {sender.name!r}"


pending_message_store = PendingMessageStore()
