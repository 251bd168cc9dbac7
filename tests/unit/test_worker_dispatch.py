"""Worker.handle: routing misses, exceptions, ConsumeLater retries, signals (reference §5.3-5.4, §5.7)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tests.unit.worker_helpers import FakeTime, drain, memory_layer, run_pending
from worker.channel import Channel, Group
from worker.exceptions import ConsumeLater, DenyConnection, WebsocketCloseException
from worker.routing import route
from worker.signals import consumer_finished, consumer_started
from worker.worker import Worker

REPLY = "daphne.response.Abc!def"


def connect(layer, path="/"):
    layer.send("websocket.connect", {"reply_channel": REPLY, "path": path, "headers": [], "order": 0})


def test_deny_connection_on_connect_sends_close():
    """DenyConnection in a websocket.connect consumer becomes {"close": True} (a 403 at the server)."""

    def deny(message):
        raise DenyConnection

    with memory_layer([route("websocket.connect", deny)]) as layer:
        connect(layer)
        run_pending(layer)
        assert drain(layer, "daphne.response.Abc!") == [{"close": True}]


def test_deny_connection_elsewhere_is_logged_not_fatal(caplog):
    """DenyConnection outside websocket.connect logs an error; the worker handles the next message."""
    seen = []

    def deny(message):
        raise DenyConnection

    with memory_layer([route("custom.a", deny), route("custom.b", lambda m: seen.append(m["n"]))]) as layer:
        layer.send("custom.a", {"n": 1})
        layer.send("custom.b", {"n": 2})
        with caplog.at_level(logging.ERROR, logger="django.channels"):
            assert run_pending(layer) == 2
    assert seen == [2]
    assert "DenyConnection raised by" in caplog.text and "only works on websocket.connect" in caplog.text


def test_websocket_close_exception_works_with_daphne_reply_channels():
    """WebsocketCloseException(4001) closes a daphne.response.* socket with that code (1.1.8 refused)."""

    def close(message):
        raise WebsocketCloseException(4001)

    with memory_layer([route("websocket.receive", close)]) as layer:
        layer.send("websocket.receive", {"reply_channel": REPLY, "path": "/", "text": "x", "order": 1})
        run_pending(layer)
        assert drain(layer, "daphne.response.Abc!") == [{"close": 4001}]


@pytest.mark.parametrize("code", [999, 1001, 2999, 5000, "4000", 1000.0])
def test_websocket_close_exception_rejects_invalid_codes(code):
    """Only None, 1000 and 3000-4999 are valid close codes: others raise ValueError naming the code."""
    with pytest.raises(ValueError, match="invalid close code"):
        WebsocketCloseException(code)


def test_unrouted_message_is_dropped_with_error_log(caplog):
    """A message no route matches is logged at ERROR and dropped."""
    with memory_layer([route("custom.a", lambda m: None, key="^yes$")]) as layer:
        layer.send("custom.a", {"key": "no"})
        with caplog.at_level(logging.ERROR, logger="django.channels"):
            run_pending(layer)
    assert "Could not find match for message on custom.a! Check your routing." in caplog.text


def test_consumer_exception_is_logged_with_traceback_and_worker_goes_on(caplog):
    """A consumer raising is logged with its traceback; its buffered sends still go out (1.1.8)."""

    def boom(message):
        Channel("out").send({"before": "error"})
        raise RuntimeError("consumer failed here")

    with memory_layer([route("custom.a", boom)]) as layer:
        layer.send("custom.a", {})
        layer.send("custom.a", {})
        with caplog.at_level(logging.ERROR, logger="django.channels"):
            assert run_pending(layer, ["custom.a"]) == 2
        assert drain(layer, "out") == [{"before": "error"}, {"before": "error"}]
    assert caplog.text.count("Error processing message with consumer") == 2
    assert "RuntimeError: consumer failed here" in caplog.text


def test_consume_later_requeues_with_retries_then_drops(caplog):
    """ConsumeLater requeues with __retries__+1; the 10th retry is __doomed__, the 11th is dropped."""
    seen = []

    def later(message):
        seen.append((message.get("__retries__", 0), message.__doomed__))
        raise ConsumeLater

    with memory_layer([route("custom.a", later)]) as layer:
        layer.send("custom.a", {"n": 1})
        with caplog.at_level(logging.WARNING, logger="django.channels"):
            assert run_pending(layer) == 11
    assert [r for r, _ in seen] == list(range(11))
    assert [d for _, d in seen] == [False] * 10 + [True]
    assert "Exceeded number of retries for message on channel custom.a" in caplog.text


def test_consume_later_on_a_full_channel_backs_off_then_drops_with_one_line(caplog, monkeypatch):
    """A ConsumeLater requeue that meets a full channel is retried on the FULL back-off for requeue_timeout,
    then dropped with one ERROR line; a channel that drains meanwhile gets the message back."""
    fake = FakeTime().install(monkeypatch, Worker)

    def later(message):
        raise ConsumeLater

    with memory_layer([route("custom.a", later)], channel_capacity={"custom.a": 1}) as layer:
        worker = Worker(layer, signal_handlers=False)
        layer.send("custom.a", {"filler": True})
        with caplog.at_level(logging.ERROR, logger="django.channels"):
            worker.handle("custom.a", {"n": 1})
        assert fake.sleeps[:4] == [0.01, 0.02, 0.04, 0.08]
        assert sum(fake.sleeps) == pytest.approx(worker.requeue_timeout)
        assert [r.getMessage() for r in caplog.records] == [
            "Dropped a ConsumeLater message on channel custom.a: could not requeue it "
            "(channel 'custom.a' is at its capacity of 1)."
        ]
        assert drain(layer, "custom.a") == [{"filler": True}]

        layer.send("custom.a", {"filler": True})
        fake.on_sleep = lambda: drain(layer, "custom.a")
        worker.handle("custom.a", {"n": 2})
        assert drain(layer, "custom.a") == [{"n": 2, "__retries__": 1}]


def test_consume_later_then_success():
    """A message put back with ConsumeLater is consumed on a later delivery."""
    attempts = []

    def flaky(message):
        attempts.append(1)
        if len(attempts) < 3:
            raise ConsumeLater
        Channel("done").send({"retries": message["__retries__"]})

    with memory_layer([route("custom.a", flaky)]) as layer:
        layer.send("custom.a", {})
        run_pending(layer)
        assert drain(layer, "done") == [{"retries": 2}]


def test_signals_bracket_every_consumer_and_callback_sees_message():
    """consumer_started (with environ) and consumer_finished wrap each consumer; callback runs first."""
    events = []

    def on_start(sender, environ, **kw):
        events.append(("started", environ))

    def on_finish(sender, **kw):
        events.append(("finished",))

    consumer_started.connect(on_start)
    consumer_finished.connect(on_finish)
    try:
        with memory_layer([route("custom.a", lambda m: events.append(("consumer", m["n"])))]) as layer:
            worker = Worker(layer, callback=lambda ch, m: events.append(("callback", ch)), signal_handlers=False)
            layer.send("custom.a", {"n": 5})
            worker.handle(*layer.receive(["custom.a"]))
    finally:
        consumer_started.disconnect(on_start)
        consumer_finished.disconnect(on_finish)
    assert events == [("callback", "custom.a"), ("started", {}), ("consumer", 5), ("finished",)]


def test_group_sends_are_buffered_and_reach_members():
    """Group add is immediate; Group.send inside a consumer is delivered after it to every member."""

    def join(message):
        Group("room").add(message.reply_channel)
        Group("room").send({"text": "hi"})
        assert drain(message.channel_layer, "daphne.response.Abc!") == []  # still buffered

    with memory_layer([route("websocket.connect", join)]) as layer:
        connect(layer)
        run_pending(layer)
        assert drain(layer, "daphne.response.Abc!") == [{"text": "hi"}]
        assert layer.group_channels("room") == [REPLY]


def test_worker_run_without_signal_handlers_stops_from_another_thread():
    """Worker.run() in a thread (runserver's use) handles messages and returns once stop() is called."""
    seen = []
    with memory_layer([route("custom.a", lambda m: seen.append(m["n"]))], blocking_timeout=0.05) as layer:
        worker = Worker(layer, signal_handlers=False)
        thread = threading.Thread(target=worker.run)
        thread.start()
        layer.send("custom.a", {"n": 1})
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.stop()
        thread.join(5)
    assert seen == [1] and not thread.is_alive() and worker.exit_code == 0 and worker.termed
