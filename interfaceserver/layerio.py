"""All channel-layer traffic of one interface-server process, kept off the event loop.

Theory of operation
-------------------
Twisted runs on the asyncio reactor, so the layer's ``asyncio`` extension (native ``redis.asyncio``
for Redis, a worker thread for the others) is awaited from the same thread as the protocols, and
its futures become Deferreds with ``Deferred.fromFuture``. Nothing here ever blocks the reactor.

*Sends* go through one FIFO: whatever protocols queue while a batch is in flight is sent next as one
``send_many_async`` (one pipelined round trip per shard), and each caller's Deferred fires with True
(delivered) or False (channel full), or fails with BackendUnavailable. One queue keeps messages in
the order they were produced (a socket's ``websocket.receive`` frames stay in order), and batching
keeps the number of round trips low under load. A message the layer refuses (MessageTooLarge,
InvalidMessage) fails alone: the batch is retried one message at a time.

Every send has a deadline, ``send_timeout`` (0.8 s) from when it was queued: a Redis that stops
answering (frozen, a network partition) would otherwise hold a batch for the whole socket timeout
and every request queued behind it. Past its deadline a send fails with BackendUnavailable (the
caller answers 503 / closes 1011 at once); one still waiting in the queue is dropped unsent, one
already in the batch on the wire may still arrive later (its reply then finds no one and is
discarded, as after any timeout).

*Replies* are read by one coroutine for the process's single reply list: no polling, one BLPOP
outstanding at a time. With the layer's ``receive_batch_async`` every ready reply (up to 64, about
1 MiB) comes back in one round trip, and each goes to ``dispatch`` in list order.
When the layer is down the reader logs once, backs off and tries again, forever; the first
success logs the recovery. The back-off is ``channellayer.retry.OUTAGE`` (0.1 s doubling, jittered
so a fleet does not reconnect in step) capped at 2 s instead of 5 s: every socket waiting for a
reply waits out the last delay after the layer is back, so the cap is latency users see.
``run_once`` is the step function. The first failure of an outage also calls ``on_outage``: the
server uses it to answer what waits for a reply at once (a Redis that went away took those replies
with it).

A reply that cannot be dispatched costs that reply only, never the reader, and is logged by what
went wrong (``_DISPATCH_FAILURES``): a malformed message (Daphne's "HTTP/WS send decode error"), a
connection that is not there any more, a transport that failed under the write, or anything else
(with its traceback); each line names the channel and the exception type. A reply for a name the
process does not know is the dispatcher's business: normal after a socket closed, it logs at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionClosed

from channellayer import BackendFull, BackendUnavailable
from channellayer.retry import OUTAGE, Backoff

from .errors import ReplyError
from .metrics import Metrics

__all__ = ["READ_BACKOFF", "LayerIO"]

logger = logging.getLogger("interfaceserver")

T = TypeVar("T")
_BATCH = 500
#: Replies read per round trip, and the byte budget of one read: a stream's large chunks are read
#: a few at a time, so other connections' replies behind them wait for at most one such read.
_REPLY_BATCH = 64
_REPLY_BATCH_BYTES = 1 << 20
#: The reply reader's retries while the layer is down (see the module docstring for the 2 s cap).
READ_BACKOFF = OUTAGE.with_(maximum=2.0)
#: How often the sender looks for sends past their deadline while a batch is on the wire.
_WATCH = 0.05
#: How a reply whose dispatch raised is logged, by the exception's type (first match); anything
#: else is unexpected and logged with its traceback. Arguments: channel, exception type, exception.
_DISPATCH_FAILURES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int, str], ...] = (
    (ReplyError, logging.ERROR, "HTTP/WS send decode error on %s: bad message (%s: %s)"),
    (LookupError, logging.WARNING, "Reply on %s dropped: no such connection (%s: %s)"),
    ((OSError, ConnectionClosed), logging.WARNING, "Reply on %s dropped: transport error (%s: %s)"),
)


def _now() -> float:
    return time.monotonic()


def _deferred(coro: Coroutine[Any, Any, T]) -> Deferred[T]:
    return Deferred.fromFuture(asyncio.ensure_future(coro))


class LayerIO:
    """Sends, new_channel and the reply reader of one process (see the module docstring)."""

    def __init__(
        self,
        layer: Any,
        prefix: str,
        dispatch: Callable[[str, dict[str, Any]], None],
        on_outage: Callable[[], None] | None = None,
        send_timeout: float = 0.8,
        metrics: Metrics | None = None,
        backoff: Backoff = READ_BACKOFF,
    ) -> None:
        self.layer = layer
        self.metrics = metrics if metrics is not None else Metrics()
        self.prefix = prefix
        self.dispatch = dispatch
        self.on_outage = on_outage
        self.send_timeout = send_timeout
        self.healthy = True
        self._refused = False  # the layer answered the last batch with BackendFull
        # (channel, message, result, deadline on the loop's clock)
        self._queue: list[tuple[str, Mapping[str, Any], Deferred[bool], float]] = []
        self._sender: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False
        self._retries = backoff.attempts()
        self._native = "asyncio" in getattr(layer, "extensions", ()) and hasattr(layer, "receive_async")

    # -- sending ---------------------------------------------------------------------------

    def send(self, channel: str, message: Mapping[str, Any]) -> Deferred[bool]:
        """Queue ``message``; the Deferred fires True (sent), False (ChannelFull) or fails (layer error)."""
        result: Deferred[bool] = Deferred()
        self._queue.append((channel, message, result, _now() + self.send_timeout))
        if self._sender is None:
            self._sender = asyncio.ensure_future(self._drain())
        return result

    def pause(self, channel: str, paused: bool) -> Deferred[None]:
        """``layer.pause_async(channel, paused)`` where the layer has it (flow control); else nothing."""
        if self._native and hasattr(self.layer, "pause_async"):
            return _deferred(self.layer.pause_async(channel, paused))
        return succeed(None)

    def new_channel(self, pattern: str) -> Deferred[str]:
        """``layer.new_channel(pattern)`` in a thread (it may ask the backend whether a name is free)."""
        return _deferred(asyncio.to_thread(self.layer.new_channel, pattern))

    async def _drain(self) -> None:
        try:
            while self._queue:
                self._expire(_now())
                batch, self._queue = self._queue[:_BATCH], self._queue[_BATCH:]
                if not batch:
                    break
                sending = asyncio.ensure_future(self._send_batch(batch))
                while not sending.done():
                    # Not wait_for: cancelling a pipeline half-way would not unsend it.
                    await asyncio.wait({sending}, timeout=_WATCH)
                    self._expire(_now(), batch)
        finally:
            self._sender = None

    def _expire(self, now: float, batch: Sequence[tuple[str, Mapping[str, Any], Deferred[bool], float]] = ()) -> None:
        """Fail the sends past their deadline: queued ones are dropped unsent, ``batch`` ones just answered."""
        if self._queue and self._queue[0][3] <= now:
            late = [item for item in self._queue if item[3] <= now]
            self._queue = [item for item in self._queue if item[3] > now]
        else:
            late = []
        late += [item for item in batch if item[3] <= now and not item[2].called]
        if not late:
            return
        error = BackendUnavailable(f"the channel layer did not take the message within {self.send_timeout:g}s")
        logger.debug("%d send(s) past their deadline", len(late))
        for _, _, result, _ in late:
            if not result.called:
                result.errback(error)

    async def _send_many(self, pairs: list[tuple[str, Mapping[str, Any]]]) -> list[bool]:
        if self._native and hasattr(self.layer, "send_many_async"):
            return list(await self.layer.send_many_async(pairs))
        return list(await asyncio.to_thread(self._send_many_sync, pairs))

    def _send_many_sync(self, pairs: list[tuple[str, Mapping[str, Any]]]) -> list[bool]:
        if hasattr(self.layer, "send_many"):
            return list(self.layer.send_many(pairs))
        delivered = []
        for channel, message in pairs:
            try:
                self.layer.send(channel, message)
            except self.layer.ChannelFull:
                delivered.append(False)
            else:
                delivered.append(True)
        return delivered

    async def _send_batch(self, batch: list[tuple[str, Mapping[str, Any], Deferred[bool], float]]) -> None:
        # A result may have fired already (past its deadline): such a send is not reported twice.
        try:
            results = await self._send_many([(channel, message) for channel, message, _, _ in batch])
        except BackendFull as exc:
            # Redis at maxmemory refuses every write: answered like a full channel (503 / 1013).
            if not self._refused:  # once per episode, not once per batch
                logger.warning("Channel layer refuses writes: %s (answering as for full channels)", exc)
            self._refused = True
            results = [False] * len(batch)
        except BackendUnavailable as exc:
            self.metrics.layer_error()
            for _, _, result, _ in batch:
                if not result.called:
                    result.errback(exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0][2].called:
                    batch[0][2].errback(exc)
                return
            for item in batch:
                await self._send_batch([item])
            return
        else:
            if self._refused:
                logger.warning("Channel layer accepts writes again")
            self._refused = False
        taken = sum(results)
        self.metrics.sent(taken, len(results) - taken)
        for delivered, (_, _, result, _) in zip(results, batch, strict=False):
            if not result.called:
                result.callback(delivered)

    # -- reading replies -------------------------------------------------------------------

    def start(self) -> None:
        """Start the reply reader (call with the asyncio loop running, or about to run)."""
        self._reader = asyncio.ensure_future(self._read_forever())

    async def _read_forever(self) -> None:
        while not self._stopping:
            await self.run_once()

    async def _receive(self) -> list[tuple[str, dict[str, Any]]]:
        if self._native:
            if hasattr(self.layer, "receive_batch_async"):
                return list(await self.layer.receive_batch_async(self.prefix, _REPLY_BATCH, _REPLY_BATCH_BYTES))
            channel, message = await self.layer.receive_async([self.prefix])
        else:
            channel, message = await asyncio.to_thread(self.layer.receive, [self.prefix], True)
        return [] if channel is None or message is None else [(channel, message)]

    async def run_once(self) -> None:
        """Wait for replies and dispatch them in order; on a layer error, log, back off and return."""
        try:
            replies = await self._receive()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.metrics.layer_error()
            if self.healthy:
                logger.error("Error trying to receive messages: %s (retrying until the layer is back)", exc)
                self.healthy = False
                if self.on_outage is not None:
                    try:
                        self.on_outage()
                    except Exception:
                        logger.exception("Error handling the start of a channel-layer outage")
            self.healthy = False
            delay = self._retries.next_delay()
            assert delay is not None  # no deadline: the reader retries for as long as the outage lasts
            await asyncio.sleep(delay)
            return
        if not self.healthy:
            logger.warning("Channel layer is reachable again; reading replies")
        self.healthy = True
        self._retries.reset()
        if replies:
            self.metrics.received(len(replies))
        for channel, message in replies:
            try:
                self.dispatch(channel, message)
            except Exception as exc:
                _log_dispatch_failure(channel, exc)

    async def stop(self) -> None:
        """Stop reading, then wait until every queued send has been attempted."""
        self._stopping = True
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        # A send queued while the last batch was out starts a new sender: wait for that one too.
        # asyncio.wait, not await: stop() being cancelled must not cancel the sends.
        while self._sender is not None:
            await asyncio.wait({self._sender})
        aclose = getattr(self.layer, "aclose", None)
        if aclose is not None:
            # A reader's BLPOP may still be out for up to blocking_timeout; every connection is closed by
            # now, so a reply it might still pop has no one to go to: do not wait for it.
            try:
                await asyncio.wait_for(aclose(), 0.5)
            except Exception:
                logger.debug("Error closing the layer's connections", exc_info=True)


def _log_dispatch_failure(channel: str, exc: Exception) -> None:
    for kinds, level, text in _DISPATCH_FAILURES:
        if isinstance(exc, kinds):
            logger.log(level, text, channel, type(exc).__name__, exc)
            return
    logger.exception("Reply on %s dropped: unexpected %s while dispatching it", channel, type(exc).__name__)
