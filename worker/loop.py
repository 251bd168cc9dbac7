"""The worker loop: receive a message, hand it to a dispatcher, repeat — with no Django in sight.

Theory of operation. A :class:`WorkerLoop` owns one receive-dispatch cycle, :meth:`WorkerLoop.run_once`,
which tests drive step by step. A :class:`WorkerPool` runs N loops in N threads (``--threads``) that
share one :class:`LoopState`: a stop event, the message count for ``--max-messages``, the start time
for ``--max-seconds``, what each thread is doing, and whether the layer is in an outage.

- **The layer never kills a loop.** ``BackendUnavailable`` (Redis down, a timeout) is logged once per
  outage, the receive is retried on the ``OUTAGE`` schedule of :mod:`channellayer.retry` (exponential,
  with jitter; the wait is interrupted by a stop),
  and when a receive works again one line says the layer is back. Any other exception from the
  layer is logged with its traceback and retried the same way.
- **A consumer never kills a loop.** The dispatcher is expected to handle its own errors; anything
  that still escapes is logged with its traceback and the loop goes on.
- **Graceful stop.** ``stop()`` (SIGTERM/SIGINT in :meth:`WorkerPool.run`) stops new receives; a
  thread in the middle of a message finishes it — including its buffered sends, which the dispatcher
  flushes — and a thread blocked in ``receive`` returns within the layer's ``blocking_timeout`` and
  handles what it got, so no message taken off the layer is abandoned. The pool waits up to
  ``drain_timeout`` for messages in flight and exits 0, or 1 if one was still running then. A second
  signal exits at once.

The Django side (:mod:`worker.worker`) supplies the dispatcher: routing, the consumer signals,
``close_old_connections`` and the send buffer all live behind it.
"""

from __future__ import annotations

import fnmatch
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from types import FrameType
from typing import Any

from channellayer import BackendUnavailable
from channellayer.retry import OUTAGE, Backoff

from .metrics import METRICS

__all__ = ["Backoff", "Dispatcher", "LoopState", "WorkerLoop", "WorkerPool", "filter_channels"]

logger = logging.getLogger("django.channels")

#: ``dispatcher(channel, content)`` handles one received message.
Dispatcher = Callable[[str, dict[str, Any]], None]


def filter_channels(
    channels: Iterable[str], only: Sequence[str] | None = None, exclude: Sequence[str] | None = None
) -> list[str]:
    """The channels kept by ``--only-channels`` globs (any may match) minus ``--exclude-channels`` globs.

    Globs are case-sensitive ``fnmatchcase`` patterns; the result keeps the order (and any repeats)
    of ``channels``, as Channels 1.1.8's ``apply_channel_filters`` did.
    """
    kept = list(channels)
    if only:
        kept = [c for c in kept if any(fnmatch.fnmatchcase(c, pattern) for pattern in only)]
    if exclude:
        kept = [c for c in kept if not any(fnmatch.fnmatchcase(c, pattern) for pattern in exclude)]
    return kept


class LoopState:
    """What the loops of one process share: the stop flag, counters and per-thread activity."""

    def __init__(
        self,
        max_messages: int | None = None,
        max_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_messages is not None and max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, not {max_messages!r}")
        if max_seconds is not None and max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, not {max_seconds!r}")
        self.max_messages = max_messages
        self.max_seconds = max_seconds
        self.clock = clock
        self.started = clock()
        self.stop_event = threading.Event()
        self.stop_reason: str | None = None
        self.handled = 0
        self.outage_since: float | None = None
        #: thread name -> channel being handled (absent while receiving or idle)
        self.in_flight: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def loops_ended(self) -> None:
        """Every loop returned on its own (``should_stop``): wake the pool without a stop reason."""
        self.stop_event.set()

    def resume(self) -> None:
        """Undo a stop, so the loops can be run again (1.1.8's ``worker.termed = False``)."""
        with self._lock:
            self.stop_reason = None
        self.stop_event.clear()

    def stop(self, reason: str) -> None:
        """Ask every loop to stop after the message it is handling (idempotent; the first reason wins)."""
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self.stop_event.set()

    def seconds_left(self) -> float | None:
        if self.max_seconds is None:
            return None
        return self.max_seconds - (self.clock() - self.started)

    def count(self) -> None:
        with self._lock:
            self.handled += 1
            reached = self.max_messages is not None and self.handled >= self.max_messages
        if reached:
            self.stop(f"handled {self.max_messages} message(s) (--max-messages)")

    def layer_failed(self, exc: BaseException) -> None:
        METRICS.layer_error()
        with self._lock:
            first = self.outage_since is None
            if first:
                self.outage_since = self.clock()
        if first:
            logger.error("Channel layer unavailable: %s. Retrying with backoff until it is back.", exc)
        else:
            logger.debug("Channel layer still unavailable: %s", exc)

    def layer_ok(self) -> None:
        if self.outage_since is None:
            return
        with self._lock:
            since, self.outage_since = self.outage_since, None
        if since is not None:
            logger.warning("Channel layer is back after %.1fs; resuming.", self.clock() - since)


class WorkerLoop:
    """One receive-dispatch cycle over ``channels`` of ``layer``; see the module docstring."""

    def __init__(
        self,
        layer: Any,
        channels: Sequence[str],
        dispatch: Dispatcher,
        *,
        state: LoopState | None = None,
        backoff: Backoff | None = None,
        block: bool = True,
        rand: Callable[[], float] = random.random,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        if not channels:
            raise ValueError("the worker has no channels to listen on (check the routing and the channel filters)")
        self.layer = layer
        self.channels = list(channels)
        self.dispatch = dispatch
        self.state = state or LoopState()
        self.block = block
        #: Asked before every receive (Channels 1.1.8 read ``worker.termed`` there; tests override it).
        self.should_stop = should_stop
        #: The waits between failed receives; reset by the first receive that works.
        self.outage = (backoff or OUTAGE).attempts(rand=rand)

    def run_once(self) -> bool:
        """Receive and handle at most one message; False once the loop should end."""
        state = self.state
        if state.stopping or (self.should_stop is not None and self.should_stop()):
            return False
        left = state.seconds_left()
        if left is not None and left <= 0:
            state.stop(f"ran for {state.max_seconds}s (--max-seconds)")
            return False
        try:
            channel, content = self.layer.receive(self.channels, block=self.block)
        except BackendUnavailable as exc:
            state.layer_failed(exc)
            self._pause()
            return True
        except Exception as exc:  # a layer bug must not end the worker either
            logger.exception("Unexpected error receiving from the channel layer")
            state.layer_failed(exc)
            self._pause()
            return True
        self.outage.reset()
        state.layer_ok()
        if channel is None:
            return True
        self._handle(channel, content)
        state.count()
        return True

    def run(self) -> None:
        """Loop until stopped (``state.stop``, ``--max-messages``, ``--max-seconds``)."""
        while self.run_once():
            pass

    def _pause(self) -> None:
        delay = self.outage.next_delay()  # never None: an outage has no deadline
        # Waiting on the stop event makes a stop during an outage immediate.
        self.state.stop_event.wait(delay)

    def _handle(self, channel: str, content: dict[str, Any]) -> None:
        name = threading.current_thread().name
        self.state.in_flight[name] = channel
        try:
            self.dispatch(channel, content)
        except Exception:
            logger.exception("Error handling a message on %s", channel)
        finally:
            self.state.in_flight.pop(name, None)


class WorkerPool:
    """``threads`` loops in threads, with signal handling and a bounded drain on stop.

    ``make_loop(state)`` builds one loop; all of them share ``state``. :meth:`run` blocks until the
    pool stops and returns the process exit code: 0 after a clean stop, 1 if a message was still in
    flight when ``drain_timeout`` ran out or a second signal forced the exit.
    """

    def __init__(
        self,
        make_loop: Callable[[LoopState], WorkerLoop],
        threads: int = 1,
        drain_timeout: float = 30.0,
        state: LoopState | None = None,
        receive_grace: float = 6.0,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads!r}")
        if drain_timeout < 0:
            raise ValueError(f"drain_timeout must not be negative, not {drain_timeout!r}")
        self.state = state or LoopState()
        self.loops = [make_loop(self.state) for _ in range(threads)]
        self.drain_timeout = drain_timeout
        # A thread blocked in receive() returns within the layer's blocking timeout; wait that long
        # for it even when the drain timeout is shorter, so a message it pops is still handled.
        self.receive_grace = receive_grace
        self._forced = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running = 0
        self._running_lock = threading.Lock()

    def stop(self, reason: str = "stop requested") -> None:
        self.state.stop(reason)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.state.stopping:
            logger.warning("Second %s: exiting now without waiting for messages in flight.", name)
            self._forced.set()
            self.state.stop_event.set()
            return
        busy = len(self.state.in_flight)
        logger.info(
            "%s received: no new messages; finishing %d in flight (drain timeout %gs).", name, busy, self.drain_timeout
        )
        self.state.stop(f"{name} received")

    def run(self, install_signals: bool = True) -> int:
        """Run until stopped; return the exit code. Signal handlers need the main thread."""
        if len(self.loops) == 1 and not install_signals:
            self.loops[0].run()
            return 0
        previous: dict[int, Any] = {}
        if install_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, self._on_signal)
        try:
            self._threads = []
            self._running = len(self.loops)
            for index, loop in enumerate(self.loops):
                thread = threading.Thread(target=self._run_loop, args=(loop,), name=f"worker-{index + 1}", daemon=True)
                thread.start()
                self._threads.append(thread)
            self._wait_for_stop()
            return self._drain()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _run_loop(self, loop: WorkerLoop) -> None:
        try:
            loop.run()
        finally:
            with self._running_lock:
                self._running -= 1
                last = self._running == 0
            if last:
                # A loop may end by itself (its should_stop said so); the pool ends with the last one.
                self.state.loops_ended()

    def _wait_for_stop(self) -> None:
        state = self.state
        while not state.stopping:
            left = state.seconds_left()
            if left is not None and left <= 0:
                state.stop(f"ran for {state.max_seconds}s (--max-seconds)")
                break
            # Wakes on stop(), on a signal (its handler sets the event) or when --max-seconds is due.
            state.stop_event.wait(left)

    def _drain(self) -> int:
        state = self.state
        logger.info("Stopping: %s.", state.stop_reason or "the worker loops ended")
        started = time.monotonic()
        while True:
            alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                logger.info("Worker stopped cleanly after %d message(s).", state.handled)
                return 0
            if self._forced.is_set():
                return 1
            waited = time.monotonic() - started
            busy = {name: channel for name, channel in state.in_flight.items()}
            if busy and waited >= self.drain_timeout:
                logger.error(
                    "Drain timeout (%gs) reached with %d message(s) still in flight (%s); exiting.",
                    self.drain_timeout,
                    len(busy),
                    ", ".join(sorted(busy.values())),
                )
                return 1
            if not busy and waited >= max(self.drain_timeout, self.receive_grace):
                logger.warning("Threads still blocked in receive after %.0fs; exiting.", waited)
                return 0
            alive[0].join(0.1)
