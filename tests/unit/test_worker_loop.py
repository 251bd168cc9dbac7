"""The Django-free worker loop: filters, run_once, outage backoff, stop, drain, max-messages/seconds."""

from __future__ import annotations

import logging
import threading

import pytest

from channellayer import BackendUnavailable, MemoryChannelLayer
from worker.loop import Backoff, LoopState, WorkerLoop, WorkerPool, filter_channels


class FlakyLayer:
    """A layer whose receive fails ``failures`` times, then serves from a memory layer."""

    def __init__(self, failures: int):
        self.failures = failures
        self.inner = MemoryChannelLayer()

    def receive(self, channels, block=False):
        if self.failures:
            self.failures -= 1
            raise BackendUnavailable("Redis at 127.0.0.1:1 failed: Connection refused")
        return self.inner.receive(channels, block=False)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_filter_channels_only_then_exclude_fnmatchcase():
    """--only-channels keeps glob matches, --exclude-channels removes them; case-sensitive; input order kept (1.1.8)."""
    names = ["http.request", "websocket.connect", "websocket.receive", "thumbnail", "Thumbnail.big"]
    assert filter_channels(names, ["websocket.*", "thumb*"]) == ["websocket.connect", "websocket.receive", "thumbnail"]
    assert filter_channels(names, None, ["thumbnail", "websocket.*"]) == ["http.request", "Thumbnail.big"]
    assert filter_channels(names, ["*"], ["*.receive"]) == [n for n in names if n != "websocket.receive"]
    assert filter_channels(["yes.1", "no.1", "maybe.2", "yes"], ["yes.*", "maybe.*"]) == ["yes.1", "maybe.2"]


def test_run_once_handles_one_message_and_loop_refuses_no_channels():
    """run_once receives and dispatches one message; a loop with no channels is a ValueError."""
    layer = MemoryChannelLayer()
    seen = []
    loop = WorkerLoop(layer, ["a"], lambda ch, m: seen.append((ch, m)), block=False)
    layer.send("a", {"n": 1})
    layer.send("a", {"n": 2})
    assert loop.run_once() and seen == [("a", {"n": 1})]
    assert loop.run_once() and loop.run_once() and len(seen) == 2
    with pytest.raises(ValueError, match="no channels to listen on"):
        WorkerLoop(layer, [], lambda ch, m: None)


def test_outage_logged_once_backoff_grows_then_resumes(caplog):
    """BackendUnavailable: one ERROR line per outage, exponential waits, one line when back, then work."""
    layer = FlakyLayer(failures=5)
    layer.inner.send("a", {"n": 1})
    waits = []
    state = LoopState()
    state.stop_event.wait = lambda timeout=None: waits.append(timeout) or False  # type: ignore[method-assign]
    seen = []
    loop = WorkerLoop(
        layer,
        ["a"],
        lambda ch, m: seen.append(m),
        state=state,
        backoff=Backoff(initial=0.1, factor=2, maximum=1.0, jitter=0.0),
        block=False,
    )
    with caplog.at_level(logging.DEBUG, logger="django.channels"):
        for _ in range(6):
            assert loop.run_once()
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.0]
    assert seen == [{"n": 1}]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "Channel layer unavailable" in errors[0].getMessage()
    assert "Connection refused" in errors[0].getMessage()
    assert sum("Channel layer is back" in r.getMessage() for r in caplog.records) == 1


def test_backoff_jitter_stays_within_bounds():
    """Jitter scales each wait into [(1 - jitter) * base, base], capped at maximum."""
    b = Backoff(initial=1, factor=2, maximum=10, jitter=0.5)
    assert b.delay(0, lambda: 0.0) == 1 and b.delay(0, lambda: 1.0) == 0.5
    assert b.delay(10, lambda: 0.0) == 10 and b.delay(1000, lambda: 0.5) == 7.5


def test_dispatch_exception_is_logged_and_loop_continues(caplog):
    """An exception escaping the dispatcher is logged with its traceback; the next message is handled."""
    layer = MemoryChannelLayer()
    seen = []

    def dispatch(channel, content):
        if content["n"] == 1:
            raise KeyError("bad message")
        seen.append(content["n"])

    loop = WorkerLoop(layer, ["a"], dispatch, block=False)
    layer.send("a", {"n": 1})
    layer.send("a", {"n": 2})
    with caplog.at_level(logging.ERROR, logger="django.channels"):
        loop.run_once()
        loop.run_once()
    assert seen == [2]
    assert "Error handling a message on a" in caplog.text and "KeyError: 'bad message'" in caplog.text


def test_max_messages_stops_the_loop():
    """After --max-messages messages the shared state stops and run() returns."""
    layer = MemoryChannelLayer()
    for n in range(5):
        layer.send("a", {"n": n})
    state = LoopState(max_messages=3)
    WorkerLoop(layer, ["a"], lambda ch, m: None, state=state, block=False).run()
    assert state.handled == 3 and "max-messages" in (state.stop_reason or "")
    assert layer.receive(["a"])[1] == {"n": 3}


def test_max_seconds_stops_the_loop():
    """Once --max-seconds have passed, run_once returns False without receiving."""
    clock = FakeClock()
    layer = MemoryChannelLayer()
    state = LoopState(max_seconds=10, clock=clock)
    loop = WorkerLoop(layer, ["a"], lambda ch, m: None, state=state, block=False)
    assert loop.run_once()
    clock.now += 10
    layer.send("a", {"n": 1})
    assert not loop.run_once()
    assert "max-seconds" in (state.stop_reason or "") and layer.receive(["a"])[1] == {"n": 1}


def test_invalid_limits_are_value_errors():
    """max_messages < 1, max_seconds <= 0, threads < 1 are refused with ValueError naming them."""
    with pytest.raises(ValueError, match="max_messages"):
        LoopState(max_messages=0)
    with pytest.raises(ValueError, match="max_seconds"):
        LoopState(max_seconds=0)
    with pytest.raises(ValueError, match="threads"):
        WorkerPool(lambda s: None, threads=0)  # type: ignore[arg-type,return-value]


def _slow_pool(threads: int, drain_timeout: float, release: threading.Event, started: threading.Semaphore):
    layer = MemoryChannelLayer(blocking_timeout=0.05)
    done = []

    def dispatch(channel, content):
        started.release()
        release.wait(10)
        done.append(content["n"])

    for n in range(threads):
        layer.send("a", {"n": n})
    pool = WorkerPool(
        lambda st: WorkerLoop(layer, ["a"], dispatch, state=st),
        threads=threads,
        drain_timeout=drain_timeout,
        receive_grace=0.2,
    )
    return pool, layer, done


def test_pool_stop_finishes_in_flight_messages_and_returns_zero():
    """stop() with every thread mid-message: all finish, no new message is taken, exit code 0."""
    release, started = threading.Event(), threading.Semaphore(0)
    pool, layer, done = _slow_pool(4, 10.0, release, started)
    layer.send("a", {"n": 99})
    result = []
    runner = threading.Thread(target=lambda: result.append(pool.run(install_signals=False)))
    runner.start()
    for _ in range(4):
        assert started.acquire(timeout=5)
    pool.stop("test")
    release.set()
    runner.join(10)
    assert result == [0]
    assert sorted(done) == [0, 1, 2, 3]
    assert layer.receive(["a"])[1] == {"n": 99}


def test_pool_drain_timeout_exceeded_returns_one(caplog):
    """A message still running when the drain timeout ends makes run() return 1 with an error naming it."""
    release, started = threading.Event(), threading.Semaphore(0)
    pool, layer, done = _slow_pool(2, 0.2, release, started)
    result = []
    runner = threading.Thread(target=lambda: result.append(pool.run(install_signals=False)))
    with caplog.at_level(logging.ERROR, logger="django.channels"):
        runner.start()
        assert started.acquire(timeout=5) and started.acquire(timeout=5)
        pool.stop("test")
        runner.join(10)
    release.set()
    assert result == [1]
    assert "Drain timeout (0.2s) reached with 2 message(s) still in flight (a, a)" in caplog.text


def test_loop_waits_on_the_shared_outage_schedule():
    """worker.loop.Backoff is channellayer.retry.Backoff, and a loop without one waits on OUTAGE."""
    from channellayer import retry

    assert Backoff is retry.Backoff
    loop = WorkerLoop(MemoryChannelLayer(), ["a"], lambda ch, m: None, block=False, rand=lambda: 0.0)
    assert loop.outage.backoff is retry.OUTAGE
    assert [loop.outage.next_delay() for _ in range(3)] == [0.1, 0.2, 0.4]
