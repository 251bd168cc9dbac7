"""Channel, Group, Message and the send buffer: consumer atomicity and bounded ChannelFull retry."""

from __future__ import annotations

import logging

import pytest

from tests.unit.worker_helpers import FakeTime, drain, memory_layer, run_pending
from worker.channel import Channel, Group
from worker.message import Message
from worker.pending import PendingMessageStore, pending_message_store
from worker.routing import route
from worker.signals import consumer_finished, consumer_started


@pytest.fixture
def fake_time(monkeypatch):
    monkeypatch.setattr(PendingMessageStore, "retry_time", 5.0)
    return FakeTime().install(monkeypatch, PendingMessageStore)


def test_send_outside_consumer_is_immediate_and_checks_type():
    """Outside a consumer Channel.send goes out at once; non-dicts: TypeError (Channel), ValueError (Group)."""
    with memory_layer([]) as layer:
        Channel(b"plain").send({"a": 1})
        assert drain(layer, "plain") == [{"a": 1}]
        with pytest.raises(TypeError, match="only send dicts"):
            Channel("plain").send("nope")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="only send dicts"):
            Group("g").send(["nope"])  # type: ignore[arg-type]


def test_sends_inside_consumer_wait_for_consumer_end_unless_immediately():
    """Consumer atomicity: buffered until consumer_finished; immediately=True bypasses the buffer."""
    with memory_layer([]) as layer:
        consumer_started.send(sender=None, environ={})
        try:
            Channel("later").send({"n": 1})
            Channel("now").send({"n": 2}, immediately=True)
            assert drain(layer, "later") == []
            assert drain(layer, "now") == [{"n": 2}]
        finally:
            consumer_finished.send(sender=None)
        assert drain(layer, "later") == [{"n": 1}]
        assert not pending_message_store.active


def test_group_add_and_discard_accept_channel_or_name():
    """Group.add/discard take a Channel or a str and act at once."""
    with memory_layer([]) as layer:
        Group("g").add(Channel("a.b!c"))
        Group("g").add("a.b!d")
        Group("g").discard("a.b!c")
        assert layer.group_channels("g") == ["a.b!d"]


def test_message_dict_access_copy_and_reply_channel():
    """Message reads like a dict, copy() is deep, reply_channel is a Channel or None."""
    with memory_layer([]) as layer:
        m = Message({"reply_channel": "x!y", "nested": {"k": [1]}}, "websocket.receive", layer)
        assert m.reply_channel.name == "x!y" and m.channel.name == "websocket.receive"
        assert "nested" in m and m.get("missing", 3) == 3 and set(m.keys()) == {"reply_channel", "nested"}
        c = m.copy()
        c["nested"]["k"].append(2)
        assert m["nested"] == {"k": [1]}
        assert Message({}, "x", layer).reply_channel is None


def test_full_channel_retried_with_backoff_then_dropped_with_one_line_rest_delivered(fake_time, caplog):
    """ChannelFull at flush: retried with growing backoff until retry_time, then ONE error line naming
    the channel (with the count), no RuntimeError, and the rest of the batch is still delivered."""

    def consumer(message):
        Channel("ok.first").send({"n": 1})
        for i in range(3):
            Channel("full.target").send({"i": i})
        Channel("ok.second").send({"n": 2})

    with memory_layer([route("go", consumer)], channel_capacity={"full.*": 1}) as layer:
        layer.send("full.target", {"filler": True})
        layer.send("go", {})
        with caplog.at_level(logging.ERROR, logger="django.channels"):
            run_pending(layer, ["go"])
        assert drain(layer, "ok.first") == [{"n": 1}]
        assert drain(layer, "ok.second") == [{"n": 2}]
        assert drain(layer, "full.target") == [{"filler": True}]
    lines = [r.getMessage() for r in caplog.records if "Dropped" in r.getMessage()]
    assert lines == [
        "Dropped 3 buffered message(s) for channel 'full.target': the channel is still full after retrying for "
        "5.00s. Consume this channel faster, raise its capacity, or send with immediately=True and handle "
        "ChannelFull yourself."
    ]
    assert fake_time.sleeps[:4] == [0.01, 0.02, 0.04, 0.08]  # channellayer.retry.FULL
    assert max(fake_time.sleeps) <= 0.5 and sum(fake_time.sleeps) == pytest.approx(5.0)


def test_retry_interval_knobs_set_the_flush_backoff(fake_time, monkeypatch):
    """PendingMessageStore.retry_interval (the 1.1.8 knob) and max_retry_interval shape the waits of a flush."""
    monkeypatch.setattr(PendingMessageStore, "retry_interval", 0.05)
    monkeypatch.setattr(PendingMessageStore, "max_retry_interval", 0.3)

    def consumer(message):
        Channel("full.target").send({"i": 0})

    with memory_layer([route("go", consumer)], channel_capacity={"full.*": 1}) as layer:
        layer.send("full.target", {"filler": True})
        layer.send("go", {})
        run_pending(layer, ["go"])
    assert fake_time.sleeps[:5] == [0.05, 0.1, 0.2, 0.3, 0.3]
    assert sum(fake_time.sleeps) == pytest.approx(5.0)


def test_full_channel_that_drains_during_retry_gets_its_messages_in_order(fake_time):
    """A channel freed while the flush retries receives every buffered message, in order."""

    def consumer(message):
        for i in range(3):
            Channel("full.target").send({"i": i})

    with memory_layer([route("go", consumer)], channel_capacity={"full.*": 1}) as layer:
        received = []
        fake_time.on_sleep = lambda: received.extend(drain(layer, "full.target"))
        layer.send("full.target", {"i": -1})
        layer.send("go", {})
        run_pending(layer, ["go"])
        received.extend(drain(layer, "full.target"))
    assert received == [{"i": -1}, {"i": 0}, {"i": 1}, {"i": 2}]


def test_too_large_buffered_message_is_logged_and_skipped(fake_time, caplog):
    """A buffered message over the size limit is dropped with a log line; the others still go out."""

    def consumer(message):
        Channel("big").send({"blob": b"x" * 4096})
        Channel("small").send({"ok": True})

    with memory_layer([route("go", consumer)], max_message_size=1024) as layer:
        layer.send("go", {})
        with caplog.at_level(logging.ERROR, logger="django.channels"):
            run_pending(layer, ["go"])
        assert drain(layer, "small") == [{"ok": True}]
    assert "Dropped 1 buffered message(s) for channel 'big': the message is too large" in caplog.text
    assert fake_time.sleeps == []
