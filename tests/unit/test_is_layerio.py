"""LayerIO: ordered batched sends with per-message results, and the reply reader's dispatch and recovery."""

from __future__ import annotations

import asyncio

from channellayer import BackendUnavailable, MemoryChannelLayer
from interfaceserver.layerio import LayerIO

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
