"""LayerIO: ordered batched sends with per-message results, and the reply reader's dispatch and recovery."""

from __future__ import annotations

import asyncio
import logging

import pytest
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock

from channellayer import BackendUnavailable, MemoryChannelLayer
from channellayer.retry import OUTAGE
from interfaceserver.config import Config
from interfaceserver.context import Context
from interfaceserver.errors import ReplyError
from interfaceserver.layerio import READ_BACKOFF, LayerIO

PREFIX = "daphne.response.abcdefghij!"


class FlakyLayer(MemoryChannelLayer):
    """The memory layer with a switch that makes every receive fail as if Redis were down."""

    down = False

    def _pop(self, names, block):
        if self.down:
            raise BackendUnavailable("Redis at test failed")
        return super()._pop(names, block)


def test_sends_keep_order_and_report_channel_full():
    """Queued sends are delivered in order; a full channel reports False for that message only."""
    layer = MemoryChannelLayer(capacity=2)

    async def scenario():
        io = LayerIO(layer, PREFIX, lambda channel, message: None)
        loop = asyncio.get_running_loop()
        results = [io.send("work", {"n": i}) for i in range(3)]
        return [await d.asFuture(loop) for d in results]

    assert asyncio.run(scenario()) == [True, True, False]
    assert [layer.receive(["work"])[1]["n"] for _ in range(2)] == [0, 1]


def test_bad_message_fails_alone():
    """A message the layer refuses fails its own Deferred; the others in the batch are still sent."""
    layer = MemoryChannelLayer()

    async def scenario():
        io = LayerIO(layer, PREFIX, lambda channel, message: None)
        loop = asyncio.get_running_loop()
        good, bad = io.send("work", {"ok": 1}), io.send("work", {"__asgi_channel__": "reserved"})
        ok = await good.asFuture(loop)
        try:
            await bad.asFuture(loop)
        except Exception as exc:
            return ok, type(exc).__name__
        return ok, None

    assert asyncio.run(scenario()) == (True, "InvalidMessage")


def test_reader_dispatches_and_recovers():
    """run_once hands replies to dispatch; when the layer fails it backs off and recovers by itself."""
    layer = FlakyLayer(blocking_timeout=0.2)
    got = []

    async def scenario():
        io = LayerIO(layer, PREFIX, lambda channel, message: got.append((channel, message)))
        layer.send(PREFIX + "conn1", {"text": "hi"})
        await io.run_once()
        layer.down = True
        await io.run_once()
        healthy_while_down = io.healthy
        layer.down = False
        layer.send(PREFIX + "conn2", {"text": "again"})
        await io.run_once()
        return healthy_while_down, io.healthy

    assert asyncio.run(scenario()) == (False, True)
    assert got == [(PREFIX + "conn1", {"text": "hi"}), (PREFIX + "conn2", {"text": "again"})]


class Target:
    """A reply target (what an HTTP exchange or a WebSocket is to the context), recording its replies."""

    def __init__(self) -> None:
        self.replies: list[dict] = []

    def on_reply(self, message: dict) -> None:
        self.replies.append(message)


def test_reply_for_unknown_channel_is_dropped(caplog):
    """A reply for a local name nobody owns (a group send to a closed socket) is dropped: nothing dispatched,
    nothing raised, one DEBUG line naming the channel, and the reader serves the next reply."""
    layer = MemoryChannelLayer()
    io = LayerIO(layer, PREFIX, lambda channel, message: None)
    ctx = Context(Config(channel_layer="x:y"), Clock(), io, prefix=PREFIX)
    io.dispatch = ctx.dispatch
    known = Target()
    known_channel = ctx.register(known)
    layer.send(PREFIX + "nobodyhere", {"text": "lost"})
    layer.send(known_channel, {"text": "delivered"})

    async def scenario():
        await io.run_once()
        await io.run_once()

    with caplog.at_level(logging.DEBUG, logger="interfaceserver"):
        asyncio.run(scenario())
    assert known.replies == [{"text": "delivered"}]
    dropped = [r for r in caplog.records if PREFIX + "nobodyhere" in r.getMessage()]
    assert [r.levelno for r in dropped] == [logging.DEBUG]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert io.healthy


@pytest.mark.parametrize(
    ("error", "level", "words"),
    [
        (
            ReplyError("Got invalid WebSocket reply"),
            logging.ERROR,
            "HTTP/WS send decode error on {channel}: bad message (ReplyError",
        ),
        (KeyError("conn"), logging.WARNING, "Reply on {channel} dropped: no such connection (KeyError"),
        (ConnectionLost("gone"), logging.WARNING, "Reply on {channel} dropped: transport error (ConnectionLost"),
        (
            BrokenPipeError(32, "Broken pipe"),
            logging.WARNING,
            "Reply on {channel} dropped: transport error (BrokenPipeError",
        ),
        (
            RuntimeError("bug"),
            logging.ERROR,
            "Reply on {channel} dropped: unexpected RuntimeError while dispatching it",
        ),
    ],
    ids=["bad-message", "unknown-connection", "connection-lost", "os-error", "unexpected"],
)
def test_dispatch_failures_are_named_and_cost_one_reply(caplog, error, level, words):
    """A reply whose dispatch raises is logged by kind, with the channel and exception type; the next is served."""
    layer = MemoryChannelLayer()
    got = []

    def dispatch(channel, message):
        if message.get("boom"):
            raise error
        got.append(message)

    io = LayerIO(layer, PREFIX, dispatch)
    layer.send(PREFIX + "conn1", {"boom": True})
    layer.send(PREFIX + "conn2", {"text": "next"})

    async def scenario():
        await io.run_once()
        await io.run_once()

    with caplog.at_level(logging.DEBUG, logger="interfaceserver"):
        asyncio.run(scenario())
    assert got == [{"text": "next"}]
    (record,) = [r for r in caplog.records if PREFIX + "conn1" in r.getMessage()]
    assert record.levelno == level
    assert record.getMessage().startswith(words.format(channel=PREFIX + "conn1"))
    assert (record.exc_info is not None) == isinstance(error, RuntimeError)  # a traceback only for the unexpected


def test_reader_backs_off_on_the_outage_schedule_capped_at_two_seconds(monkeypatch):
    """While the layer is down the reader waits 0.1 s doubling (jittered, as OUTAGE) up to 2 s; a success resets it."""
    assert READ_BACKOFF == OUTAGE.with_(maximum=2.0)
    layer = FlakyLayer(blocking_timeout=0.05)
    layer.down = True
    waits: list[float] = []

    async def sleep(delay):
        waits.append(delay)

    async def scenario():
        io = LayerIO(layer, PREFIX, lambda channel, message: None)
        monkeypatch.setattr(asyncio, "sleep", sleep)
        for _ in range(7):
            await io.run_once()
        layer.down = False
        layer.send(PREFIX + "conn", {"text": "back"})
        await io.run_once()
        layer.down = True
        await io.run_once()

    asyncio.run(scenario())
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 0.1]
    assert len(waits) == len(ceilings)
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling
