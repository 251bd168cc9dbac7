"""LayerIO under a stuck or full layer: send deadlines, BackendFull as 'not delivered', the outage callback."""

from __future__ import annotations

import asyncio
import time

from channellayer import BackendFull, BackendUnavailable, MemoryChannelLayer
from channellayer.retry import Backoff
from interfaceserver.layerio import LayerIO

PREFIX = "daphne.response.abcdefghij!"


class StuckLayer(MemoryChannelLayer):
    """A layer whose sends hang until released (a frozen Redis), recording what reached it."""

    extensions = ["asyncio", "groups", "flush"]

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.reached: list[str] = []

    async def send_many_async(self, pairs):
        self.reached += [message["n"] for _, message in pairs]
        await self.release.wait()
        return [True] * len(pairs)

    async def receive_async(self, channels):
        await asyncio.sleep(3600)


class FullLayer(MemoryChannelLayer):
    extensions = ["asyncio", "groups", "flush"]

    async def send_many_async(self, pairs):
        raise BackendFull("Redis at test is out of memory (maxmemory): OOM command not allowed")


async def outcome(deferred):
    try:
        return await deferred.asFuture(asyncio.get_running_loop())
    except Exception as exc:
        return type(exc).__name__


def test_sends_fail_at_their_deadline_when_the_layer_hangs():
    """A hung batch fails at send_timeout; sends queued behind it fail too and never reach the layer."""
    layer = StuckLayer()

    async def scenario():
        io = LayerIO(layer, PREFIX, lambda c, m: None, send_timeout=0.2)
        started = time.monotonic()
        first = io.send("work", {"n": 1})
        await asyncio.sleep(0.05)
        second = io.send("work", {"n": 2})
        results = [await outcome(first), await outcome(second)]
        elapsed = time.monotonic() - started
        layer.release.set()
        await asyncio.sleep(0.1)
        return results, elapsed

    results, elapsed = asyncio.run(scenario())
    assert results == ["BackendUnavailable", "BackendUnavailable"]
    assert elapsed < 1.0
    assert layer.reached == [1]  # the queued one was dropped unsent


def test_late_batch_result_is_not_reported_twice():
    """When a hung batch completes after its deadline, the already-failed Deferred is left alone."""
    layer = StuckLayer()

    async def scenario():
        io = LayerIO(layer, PREFIX, lambda c, m: None, send_timeout=0.1)
        result = io.send("work", {"n": 1})
        failed = await outcome(result)
        layer.release.set()
        await asyncio.sleep(0.1)  # the batch now returns [True]: no AlreadyCalledError, no second result
        after = io.send("work", {"n": 2})
        return failed, await outcome(after)

    assert asyncio.run(scenario()) == ("BackendUnavailable", True)


def test_backend_full_is_reported_as_not_delivered():
    """BackendFull (Redis OOM) fires False, as a full channel does, so callers answer 503 / 1013."""

    async def scenario():
        io = LayerIO(FullLayer(), PREFIX, lambda c, m: None)
        return [await outcome(io.send("work", {"n": i})) for i in range(2)]

    assert asyncio.run(scenario()) == [False, False]


def test_outage_callback_runs_once_per_outage():
    """on_outage runs at the first failed receive of an outage, not at every retry, and again after a recovery."""
    calls = []

    class Flaky(MemoryChannelLayer):
        down = True

        def _pop(self, names, block):
            if self.down:
                raise BackendUnavailable("Redis at test failed")
            return super()._pop(names, block)

    layer = Flaky(blocking_timeout=0.05)

    async def scenario():
        quick = Backoff(initial=0.01, maximum=0.01, jitter=0.0)
        io = LayerIO(layer, PREFIX, lambda c, m: None, on_outage=lambda: calls.append(1), backoff=quick)
        for _ in range(3):
            await io.run_once()
        layer.down = False
        await io.run_once()
        layer.down = True
        await io.run_once()

    asyncio.run(scenario())
    assert calls == [1, 1]


def test_default_deadline_is_under_a_second():
    """The default send deadline keeps an outage's 503 under 1 s (docs/reliability.md)."""
    assert LayerIO(MemoryChannelLayer(), PREFIX, lambda c, m: None).send_timeout == 0.8


def test_stop_waits_on_the_sender_without_polling(monkeypatch):
    """stop() returns once the in-flight batch is attempted, waiting on the sender itself: no timed wake-ups."""
    layer = StuckLayer()
    real_sleep = asyncio.sleep
    naps: list[float] = []

    async def sleep(delay, *args):
        naps.append(delay)
        return await real_sleep(delay, *args)

    async def scenario():
        io = LayerIO(layer, PREFIX, lambda c, m: None, send_timeout=5)
        sent = io.send("work", {"n": 1})
        await real_sleep(0)  # the sender takes the batch
        monkeypatch.setattr(asyncio, "sleep", sleep)
        stopping = asyncio.ensure_future(io.stop())
        await asyncio.wait({stopping}, timeout=0.2)
        waited = not stopping.done()
        layer.release.set()
        await asyncio.wait_for(stopping, 1)
        return waited, await outcome(sent)

    assert asyncio.run(scenario()) == (True, True)
    assert naps == []
