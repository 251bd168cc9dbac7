"""The delay server loop behind ``manage.py rundelay`` (the ASGI 1 delay protocol, reference §2.9).

Theory of operation: two steps, each a function a test can call directly.

* :meth:`DelayServer.receive_once` blocks on ``asgi.delay`` (the layer's blocking receive, ≤ its
  ``blocking_timeout``) and stores a valid message as a ``DelayedMessage`` row. A bad message is
  logged and skipped — Channels 1.1.8 ``break``-ed out of its loop, which stopped the server.
* :meth:`DelayServer.dispatch_once` sends every due row and returns how long it may sleep: until the
  next row is due, capped at ``database_sleep`` (other processes may add rows too).

``run()`` runs the receiver in the calling thread and the dispatcher in a second thread that waits
on an ``Event`` (set when a new row is stored), so an idle server neither polls the layer nor spins.
SIGTERM/SIGINT stop both within one blocking receive, after the row or send in progress.

Several delay servers may share one database: a row is *claimed* with a conditional UPDATE (its
``due_date`` pushed :attr:`claim_lease` seconds ahead) before it is sent, so only one of them sends
it; if that one dies before deleting it, the row becomes due again after the lease.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import close_old_connections
from django.utils import timezone

from channellayer import BackendUnavailable, InvalidName
from channellayer.names import check_channel_name

from .content import encode_content
from .models import DelayedMessage

__all__ = ["DELAY_CHANNEL", "DelayServer", "Worker"]

logger = logging.getLogger("django.channels")

DELAY_CHANNEL = "asgi.delay"


def _validate(content: Any) -> tuple[str, dict[str, Any], int]:
    """``(channel, content, delay)`` of an ``asgi.delay`` message; ``ValueError`` naming what is wrong."""
    if not isinstance(content, dict):
        raise ValueError(f"message is a {type(content).__name__}, not a dict")
    missing = [key for key in ("channel", "content", "delay") if key not in content]
    if missing:
        raise ValueError(f"message lacks {', '.join(repr(k) for k in missing)} (needs 'channel', 'content', 'delay')")
    channel, inner, delay = content["channel"], content["content"], content["delay"]
    try:
        check_channel_name(channel)
    except InvalidName as exc:
        raise ValueError(f"bad 'channel': {exc}") from None
    if not isinstance(inner, dict):
        raise ValueError(f"'content' must be a dict, not {type(inner).__name__}")
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        raise ValueError(f"'delay' must be a non-negative int of milliseconds, not {delay!r}")
    return channel, inner, delay


class DelayServer:
    """Stores ``asgi.delay`` messages and sends them when due.

    ``channel_layer`` is a raw layer or a Django wrapper; ``database_sleep`` is the longest time (s)
    between two looks at the database (``rundelay --sleep``, default 1).
    """

    #: Seconds a claimed row stays invisible to other delay servers while it is being sent.
    claim_lease = 60.0
    #: Milliseconds to wait before retrying a row whose channel was full (1.1.8: 1000).
    requeue_delay = 1000

    def __init__(self, channel_layer: Any, database_sleep: float = 1.0, signal_handlers: bool = True) -> None:
        self.channel_layer = channel_layer
        self.database_sleep = float(database_sleep)
        self.signal_handlers = signal_handlers
        self.stopping = threading.Event()
        self._wake = threading.Event()

    # -- steps ---------------------------------------------------------------------------------

    def receive_once(self, block: bool = True) -> DelayedMessage | None:
        """Take one message off ``asgi.delay`` and store it; the new row, or None (nothing or invalid)."""
        channel, content = self.channel_layer.receive([DELAY_CHANNEL], block=block)
        if channel is None:
            return None
        try:
            target, inner, delay = _validate(content)
            row = DelayedMessage(channel_name=target, content=encode_content(inner))
            row.delay = delay
            row.full_clean()
        except (ValueError, TypeError) as exc:
            logger.error("Invalid message on %s, skipped: %s", DELAY_CHANNEL, exc)
            return None
        except ValidationError as exc:
            logger.error("Invalid message on %s, skipped: %s", DELAY_CHANNEL, "; ".join(exc.messages))
            return None
        row.save()
        logger.debug("Stored delayed message for %s, due in %d ms", target, delay)
        self._wake.set()
        return row

    def dispatch_once(self) -> float:
        """Send every due row; return the seconds until the next look (≤ ``database_sleep``)."""
        for row in list(DelayedMessage.objects.is_due().order_by("due_date", "pk")):
            if self.stopping.is_set():
                break
            self._dispatch(row)
        upcoming = DelayedMessage.objects.order_by("due_date").values_list("due_date", flat=True).first()
        if upcoming is None:
            return self.database_sleep
        wait: float = (upcoming - timezone.now()).total_seconds()
        return max(0.0, min(wait, self.database_sleep))

    def _dispatch(self, row: DelayedMessage) -> None:
        lease_until = timezone.now() + timedelta(seconds=self.claim_lease)
        claimed = DelayedMessage.objects.filter(pk=row.pk, due_date=row.due_date).update(due_date=lease_until)
        if not claimed:
            return  # another delay server took it, or it is gone
        row.due_date = lease_until
        try:
            content = row.get_content()
        except ValueError as exc:
            logger.error("Delayed message %s for %s has unreadable content, deleted: %s", row.pk, row.channel_name, exc)
            row.delete()
            return
        try:
            self.channel_layer.send(row.channel_name, content)
        except self.channel_layer.ChannelFull:
            logger.info("Channel %s full; delayed message requeued for %d ms", row.channel_name, self.requeue_delay)
            row.delay = self.requeue_delay
            row.save(update_fields=["due_date"])
            return
        except BackendUnavailable as exc:
            # The row stays claimed; it becomes due again when the lease runs out.
            logger.warning("Channel layer unavailable sending delayed message to %s: %s", row.channel_name, exc)
            return
        except (TypeError, ValueError) as exc:
            logger.error("Delayed message for %s cannot be sent, deleted: %s", row.channel_name, exc)
            row.delete()
            return
        logger.info("Sent delayed message to channel %s", row.channel_name)
        row.delete()

    # -- loops ---------------------------------------------------------------------------------

    @property
    def termed(self) -> bool:
        """True once a stop was asked for (1.1.8 attribute).

        The receive loop reads it every round, so a subclass that overrides it (how 1.1.8 tests run
        the delay worker for N rounds) ends :meth:`run`. Setting it False makes a stopped server
        runnable again.
        """
        return self.stopping.is_set()

    @termed.setter
    def termed(self, value: bool) -> None:
        if value:
            self.stop()
        else:
            self.stopping.clear()

    def stop(self, *args: Any) -> None:
        """Ask both loops to finish (signal-handler compatible)."""
        self.stopping.set()
        self._wake.set()

    def _dispatch_loop(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    wait = self.dispatch_once()
                except Exception:
                    logger.exception("Delay dispatch failed; retrying")
                    wait = self.database_sleep
                self._wake.wait(wait)
                self._wake.clear()
        finally:
            close_old_connections()

    def run(self) -> None:
        """Run until :meth:`stop` (or SIGTERM/SIGINT when ``signal_handlers``)."""
        if self.signal_handlers:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        logger.info("Listening on %s", DELAY_CHANNEL)
        dispatcher = threading.Thread(target=self._dispatch_loop, name="delay-dispatch", daemon=True)
        dispatcher.start()
        outage = False
        try:
            while not self.termed:
                try:
                    self.receive_once(block=True)
                except BackendUnavailable as exc:
                    if not outage:
                        logger.warning("Channel layer unavailable: %s; retrying every second", exc)
                    outage = True
                    self.stopping.wait(1.0)
                    continue
                except Exception:
                    logger.exception("Error storing a delayed message; going on")
                    close_old_connections()
                if outage:
                    logger.warning("Channel layer available again")
                    outage = False
        finally:
            self.stop()
            dispatcher.join()
            close_old_connections()


class Worker(DelayServer):
    """Channels 1.1.8's delay loop (``channels.delay.worker.Worker``): its signature and its ``run()``.

    ``run()`` works as 1.1.8's did, in the calling thread (so it sees a test's database
    transaction): each round, unless ``termed``, takes at most one message off ``asgi.delay``
    without blocking (or waits 0.1 s when there is none), and at most every
    ``database_sleep_duration`` seconds sends the due rows. Unlike 1.1.8, a bad message is skipped,
    not the end of the loop. ``manage.py rundelay`` runs :meth:`DelayServer.run`, which never polls.
    """

    #: Seconds an idle round waits before looking at ``asgi.delay`` again (1.1.8: 0.1).
    idle_wait = 0.1

    def __init__(self, channel_layer: Any, signal_handlers: bool = True, database_sleep_duration: float = 1) -> None:
        super().__init__(channel_layer, database_sleep=database_sleep_duration, signal_handlers=signal_handlers)
        self.termed = False
        #: True while a round is storing or sending (1.1.8 attribute).
        self.in_job = False

    def run(self) -> None:
        """Run rounds until ``termed`` (SIGTERM/SIGINT set it when ``signal_handlers``)."""
        if self.signal_handlers:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        logger.info("Listening on %s", DELAY_CHANNEL)
        next_check = 0.0
        try:
            while not self.termed:
                self.in_job = False
                try:
                    stored = self.receive_once(block=False)
                except BackendUnavailable as exc:
                    logger.warning("Channel layer unavailable: %s; retrying in a second", exc)
                    self.stopping.wait(1.0)
                    continue
                self.in_job = True
                if stored is None:
                    self.stopping.wait(self.idle_wait)
                if time.monotonic() >= next_check:
                    self.dispatch_once()
                    next_check = time.monotonic() + self.database_sleep
        finally:
            self.in_job = False
