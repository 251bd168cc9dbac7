"""The Django side of the worker: ``Worker`` and ``WorkerGroup`` (Channels 1.1.8 names).

:class:`Worker` plugs Channels semantics into the Django-free loop of :mod:`worker.loop` through
:meth:`Worker.handle`, its dispatcher:

1. wrap the content in a :class:`~worker.message.Message` (``__doomed__`` on its last retry);
2. ``router.match``; no match → an ERROR log line and the message is dropped;
3. the ``callback`` (``runworker -v 2`` logs with it);
4. ``consumer_started`` (opens the send buffer), the consumer, then — always — ``consumer_finished``
   (flushes the buffer, ``close_old_connections``);
5. ``DenyConnection`` → ``{"close": True}`` on a ``websocket.connect``; ``ChannelSocketException`` →
   its ``run(message)``; ``ConsumeLater`` → requeue with ``__retries__`` + 1, dropped with a warning
   after ``message_retries`` (10); anything else → logged with its traceback, and the worker goes on.

Unlike 1.1.8, layer errors never end the worker, and ``WorkerGroup`` (``--threads``) stops gracefully.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from channellayer import BackendUnavailable, ChannelFull
from channellayer.retry import FULL, Backoff

from .exceptions import ChannelSocketException, ConsumeLater, DenyConnection
from .loop import LoopState, WorkerLoop, WorkerPool, filter_channels
from .message import Message
from .metrics import METRICS
from .signals import consumer_finished, consumer_started, worker_ready
from .utils import name_that_thing

__all__ = ["Worker", "WorkerGroup"]

logger = logging.getLogger("django.channels")


class Worker:
    """Runs the consumers of ``channel_layer`` (a ``ChannelLayerWrapper``) for the messages it receives.

    The 1.1.8 arguments keep their meaning; the keyword-only ones are new: ``threads`` loops in one
    process, ``drain_timeout`` for a graceful stop, ``max_messages`` / ``max_seconds`` for a clean
    exit after that much work, ``requeue_timeout`` bounding how long a ``ConsumeLater`` requeue
    retries a full channel (on the ``FULL`` schedule of :mod:`channellayer.retry`), and ``backoff``
    replacing the ``OUTAGE`` schedule of receives while the layer is unavailable.
    """

    #: How a requeue waits between attempts and tells the time (tests inject fakes).
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self,
        channel_layer: Any,
        callback: Callable[[str, Message], None] | None = None,
        message_retries: int = 10,
        signal_handlers: bool = True,
        only_channels: Sequence[str] | None = None,
        exclude_channels: Sequence[str] | None = None,
        *,
        threads: int = 1,
        drain_timeout: float = 30.0,
        max_messages: int | None = None,
        max_seconds: float | None = None,
        requeue_timeout: float = 1.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.channel_layer = channel_layer
        self.callback = callback
        self.message_retries = message_retries
        self.signal_handlers = signal_handlers
        self.only_channels = only_channels
        self.exclude_channels = exclude_channels
        self.threads = threads
        self.drain_timeout = drain_timeout
        self.requeue_timeout = requeue_timeout
        self.backoff = backoff
        self.state = LoopState(max_messages=max_messages, max_seconds=max_seconds)
        self.exit_code = 0
        self.termed = False

    # -- the 1.1.8 surface ----------------------------------------------------------------------

    @property
    def termed(self) -> bool:
        """True once a stop was asked for (1.1.8 attribute).

        The loop reads it before every receive, as 1.1.8's did, so a subclass that overrides it (the
        usual way 1.1.8 tests run a worker for N messages) ends :meth:`run` when it turns True.
        Setting it True stops the worker; setting it False makes a stopped worker runnable again.
        """
        return self.state.stopping

    @termed.setter
    def termed(self, value: bool) -> None:
        if value:
            self.stop("termed set")
        else:
            self.state.resume()

    @property
    def in_job(self) -> bool:
        """True while a message is being handled (1.1.8 attribute)."""
        return bool(self.state.in_flight)

    def apply_channel_filters(self, channels: Sequence[str]) -> list[str]:
        """The channels this worker listens on, after ``only_channels`` / ``exclude_channels``."""
        return filter_channels(channels, self.only_channels, self.exclude_channels)

    def ready(self) -> None:
        """Called once set-up is complete: sends ``worker_ready``."""
        worker_ready.send(sender=self)

    def stop(self, reason: str = "stop requested") -> None:
        """Stop after the messages in flight (from any thread)."""
        self.state.stop(reason)

    def run(self) -> None:
        """Listen and dispatch until stopped; the exit code is left in ``exit_code``."""
        channels = self.apply_channel_filters(sorted(self.channel_layer.router.channels))
        logger.info("Listening on channels %s", ", ".join(channels) or "(none)")
        pool = WorkerPool(
            lambda state: WorkerLoop(
                self.channel_layer,
                channels,
                self.handle,
                state=state,
                backoff=self.backoff,
                should_stop=lambda: self.termed,
            ),
            threads=self.threads,
            drain_timeout=self.drain_timeout,
            state=self.state,
            receive_grace=float(getattr(self.channel_layer, "blocking_timeout", 5)) + 1,
        )
        try:
            self.exit_code = pool.run(install_signals=self.signal_handlers)
        finally:
            if self.state.stop_reason is None:
                # The loops ended because ``termed`` said so, not by a stop: runnable again, as in 1.1.8.
                self.state.resume()

    # -- one message ----------------------------------------------------------------------------

    def handle(self, channel: str, content: dict[str, Any]) -> None:
        """Route and run the consumer for one message; never raises for consumer errors."""
        message = Message(content=content, channel_name=channel, channel_layer=self.channel_layer)
        if content.get("__retries__", 0) == self.message_retries:
            message.__doomed__ = True
        match = self.channel_layer.router.match(message)
        if match is None:
            logger.error("Could not find match for message on %s! Check your routing.", channel)
            return
        consumer, kwargs = match
        if self.callback is not None:
            self.callback(channel, message)
        started = time.perf_counter()
        failed = False
        try:
            logger.debug("Dispatching message on %s to %s", channel, name_that_thing(consumer))
            consumer_started.send(sender=self.__class__, environ={})
            consumer(message, **kwargs)
        except DenyConnection:
            if channel != "websocket.connect":
                logger.error(
                    "DenyConnection raised by %s on %s; it only works on websocket.connect.",
                    name_that_thing(consumer),
                    channel,
                )
            elif message.reply_channel is None:
                logger.error(
                    "DenyConnection raised by %s for a message without reply_channel.", name_that_thing(consumer)
                )
            else:
                message.reply_channel.send({"close": True})
        except ChannelSocketException as exc:
            try:
                exc.run(message)
            except Exception:
                logger.exception("Error running %s from consumer %s", type(exc).__name__, name_that_thing(consumer))
        except ConsumeLater:
            self._requeue(channel, content)
        except Exception:
            failed = True
            logger.exception("Error processing message with consumer %s:", name_that_thing(consumer))
        finally:
            consumer_finished.send(sender=self.__class__)
            METRICS.consumed(channel, time.perf_counter() - started, failed)

    def _requeue(self, channel: str, content: dict[str, Any]) -> None:
        content["__retries__"] = content.get("__retries__", 0) + 1
        if content["__retries__"] > self.message_retries:
            logger.warning("Exceeded number of retries for message on channel %s: %s", channel, repr(content)[:100])
            return
        attempts = FULL.attempts(deadline=self.clock() + self.requeue_timeout, clock=self.clock)
        while True:
            try:
                self.channel_layer.send(channel, content)
                return
            except (ChannelFull, BackendUnavailable) as exc:
                delay = attempts.next_delay()
                if delay is None:
                    logger.error(
                        "Dropped a ConsumeLater message on channel %s: could not requeue it (%s).",
                        channel,
                        exc or type(exc).__name__,
                    )
                    return
                self.sleep(delay)


class WorkerGroup(Worker):
    """``runworker --threads N``: N loops in threads of one process, stopped gracefully as a group."""

    def __init__(self, *args: Any, n_threads: int = 2, **kwargs: Any) -> None:
        kwargs["threads"] = n_threads
        super().__init__(*args, **kwargs)
        self.n_threads = n_threads

    def ready(self) -> None:
        # 1.1.8 sent worker_ready once per sub-worker as well as for the group.
        for _ in range(self.n_threads):
            worker_ready.send(sender=self)
