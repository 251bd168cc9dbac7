"""Generic consumers: WebsocketConsumer, JsonWebsocketConsumer, multiplexing (reference §5.8)."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import override_settings

from tests.unit.worker_helpers import drain, memory_layer, run_pending
from worker.exceptions import SendNotAvailableOnDemultiplexer
from worker.generic.base import BaseConsumer
from worker.generic.websockets import (
    JsonWebsocketConsumer,
    WebsocketConsumer,
    WebsocketDemultiplexer,
    WebsocketMultiplexer,
)
from worker.routing import route_class

REPLY = "daphne.response.Gen!abc"
OUT = "daphne.response.Gen!"


@pytest.fixture(autouse=True)
def cache_sessions():
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.cache"):
        yield


def send(layer, channel, order=0, **extra):
    layer.send(channel, {"reply_channel": REPLY, "path": "/room/blue/", "order": order, **extra})


class Echo(WebsocketConsumer):
    def connection_groups(self, room=None, **kwargs):
        return [f"room-{room}"]

    def receive(self, text=None, bytes=None, **kwargs):
        self.send(text=f"{kwargs['room']}:{text}" if text is not None else None, bytes=bytes)


class Json(JsonWebsocketConsumer):
    channel_session = True

    def connect(self, message, **kwargs):
        message.channel_session["seen"] = 0
        super().connect(message, **kwargs)

    def receive(self, content, **kwargs):
        self.message.channel_session["seen"] += 1
        self.send({"got": content, "seen": self.message.channel_session["seen"], "path": self.path})


def test_websocket_consumer_connect_groups_receive_disconnect():
    """Connect accepts and joins connection_groups (path kwargs), receive echoes, disconnect leaves."""
    with memory_layer([route_class(Echo, path=r"^/room/(?P<room>[^/]+)/$")]) as layer:
        send(layer, "websocket.connect")
        run_pending(layer)
        assert layer.group_channels("room-blue") == [REPLY]
        send(layer, "websocket.receive", 1, text="hi")
        send(layer, "websocket.receive", 2, bytes=b"\x00")
        send(layer, "websocket.disconnect", 3, code=1000)
        run_pending(layer)
        assert drain(layer, OUT) == [{"accept": True}, {"text": "blue:hi"}, {"bytes": b"\x00"}]
        assert layer.group_channels("room-blue") == []


def test_send_without_payload_and_group_send_and_close():
    """send() with neither text nor bytes is a ValueError; group_send and close use the ASGI keys."""
    with pytest.raises(ValueError, match="You must pass text or bytes"):
        WebsocketConsumer.group_send("g")
    with memory_layer([]) as layer:
        layer.group_add("g", REPLY)
        WebsocketConsumer.group_send("g", text="all", close=True)
        JsonWebsocketConsumer.group_send("g", {"a": 1})
        assert drain(layer, OUT) == [{"close": True, "text": "all"}, {"text": '{"a": 1}'}]


def test_json_consumer_with_channel_session_and_binary_rejected(caplog):
    """JSON in and out, channel_session flag keeps state per socket; a binary frame is a ValueError."""
    with memory_layer([Json.as_route(path=r"^/room/")]) as layer:
        send(layer, "websocket.connect")
        run_pending(layer)
        send(layer, "websocket.receive", 1, text='{"x": 1}')
        send(layer, "websocket.receive", 2, text="[2]")
        with caplog.at_level(logging.ERROR, logger="django.channels"):
            send(layer, "websocket.receive", 3, bytes=b"{}")
            run_pending(layer)
        out = drain(layer, OUT)
    assert out[0] == {"accept": True}
    assert [json.loads(m["text"]) for m in out[1:]] == [
        {"got": {"x": 1}, "seen": 1, "path": "/room/blue/"},
        {"got": [2], "seen": 2, "path": "/room/blue/"},
    ]
    assert "No text section for incoming WebSocket frame!" in caplog.text


def test_as_route_with_attrs_makes_a_subclass_and_slight_ordering_raises(caplog):
    """as_route(attrs) routes to a subclass with those attributes; slight_ordering=True is refused."""
    r = Echo.as_route({"groups": ["x"]}, path="^/")
    assert r.consumer.__name__ == "Echo" and r.consumer.groups == ["x"] and r.consumer is not Echo
    with pytest.raises(TypeError, match="attrs must be a dict"):
        Echo.as_route(["bad"])
    with memory_layer([WebsocketConsumer.as_route({"slight_ordering": True})]) as layer:
        send(layer, "websocket.connect")
        with caplog.at_level(logging.ERROR, logger="django.channels"):
            run_pending(layer)
    assert "Slight ordering is now always on" in caplog.text


def test_base_consumer_channel_names_from_method_mapping():
    """BaseConsumer.channel_names() is the method_mapping keys; the mapped method gets the message."""
    got = []

    class Custom(BaseConsumer):
        method_mapping = {"custom.a": "on_a"}

        def on_a(self, message, **kwargs):
            got.append((message["n"], kwargs))

    assert Custom.channel_names() == {"custom.a"}
    with memory_layer([route_class(Custom)]) as layer:
        layer.send("custom.a", {"n": 1})
        run_pending(layer)
    assert got == [(1, {})]


class StreamA(JsonWebsocketConsumer):
    def connect(self, message, multiplexer=None, **kwargs):
        multiplexer.send({"hello": "a"})

    def receive(self, content, multiplexer=None, **kwargs):
        multiplexer.send({"echo": content})

    def disconnect(self, message, multiplexer=None, **kwargs):
        multiplexer.send({"bye": "a"})


class StreamB(JsonWebsocketConsumer):
    def receive(self, content, multiplexer=None, **kwargs):
        self.send({"should": "fail"})


class Demux(WebsocketDemultiplexer):
    consumers = {"a": StreamA, "b": StreamB}


def test_demultiplexer_routes_streams_and_wraps_replies(caplog):
    """Frames go to the stream's consumer with a multiplexer; replies are {"stream","payload"} frames;
    a consumer's own send raises SendNotAvailableOnDemultiplexer."""
    with memory_layer([route_class(Demux)]) as layer:
        send(layer, "websocket.connect")
        run_pending(layer)
        send(layer, "websocket.receive", 1, text=json.dumps({"stream": "a", "payload": {"v": 1}}))
        with caplog.at_level(logging.ERROR, logger="django.channels"):
            send(layer, "websocket.receive", 2, text=json.dumps({"stream": "b", "payload": {}}))
            send(layer, "websocket.receive", 3, text=json.dumps({"stream": "zzz", "payload": {}}))
            send(layer, "websocket.receive", 4, text=json.dumps({"stream": "a", "payload": [1]}))
            run_pending(layer)
        send(layer, "websocket.disconnect", 5, code=1000)
        run_pending(layer)
        out = drain(layer, OUT)
    frames = [json.loads(m["text"]) if "text" in m else m for m in out]
    assert frames[0] == {"accept": True}
    assert {"stream": "a", "payload": {"hello": "a"}} in frames
    assert {"stream": "a", "payload": {"echo": {"v": 1}}} in frames
    assert frames[-1] == {"stream": "a", "payload": {"bye": "a"}}
    assert "SendNotAvailableOnDemultiplexer" in caplog.text
    assert "stream not mapped" in caplog.text and "payload is not a dict" in caplog.text


def test_demultiplexer_does_not_patch_consumer_class_for_good():
    """After a demultiplexed run, the sub-consumer class routed directly still sends (1.1.8 broke it)."""
    with memory_layer([route_class(Demux)]) as layer:
        send(layer, "websocket.receive", 1, text=json.dumps({"stream": "b", "payload": {}}))
        run_pending(layer)
        drain(layer, OUT)
    with memory_layer([route_class(StreamB)]) as layer:
        send(layer, "websocket.receive", 1, text="{}")
        run_pending(layer)
        assert drain(layer, OUT) == [{"text": '{"should": "fail"}'}]


def test_multiplexer_encode_group_send_and_demux_send_refused():
    """WebsocketMultiplexer.group_send sends the stream frame (with close); Demultiplexer.send/group_send raise."""
    with memory_layer([]) as layer:
        layer.group_add("g", REPLY)
        WebsocketMultiplexer.group_send("g", "s", {"k": 1}, close=True)
        assert drain(layer, OUT) == [{"text": '{"stream": "s", "payload": {"k": 1}}', "close": True}]
    with pytest.raises(SendNotAvailableOnDemultiplexer):
        Demux.group_send("g", "s", {})
