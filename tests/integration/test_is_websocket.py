"""The real ``daphne`` script serving WebSockets: accept/reject flow, echo, close codes, subprotocols, groups."""

from __future__ import annotations

import time

import pytest
import websocket

from channellayer import get_channel_layer
from tests.integration.is_support import Daphne, raw_websocket, read_all, start_worker

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def layer(redis_url):
    layer = get_channel_layer("redis", {"hosts": [redis_url]})
    layer.flush()
    return layer


@pytest.fixture(scope="module")
def worker(redis_url, layer):
    process = start_worker(redis_url)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def daphne(redis_url, worker):
    server = Daphne(
        redis_url, "--ws-protocol", "graphql-ws", "--ws-protocol", "chat.v2", "--websocket_connect_timeout", "2"
    )
    yield server
    server.stop()


def events(layer, count, timeout=10.0):
    """The next ``count`` websocket.disconnect messages the worker forwarded to test.events."""
    found = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        _, message = layer.receive(["test.events"], block=False)
        if message is None:
            time.sleep(0.05)
        elif "code" in message:
            found.append(message)
    return found


def test_accept_and_echo_text_and_bytes(daphne):
    """An accepted socket echoes text and binary frames through the worker."""
    ws = websocket.create_connection(daphne.ws_url + "/ws/echo", timeout=10)
    ws.send("hello")
    assert ws.recv() == "hello"
    ws.send_binary(b"\x00\xffdata")
    assert ws.recv() == b"\x00\xffdata"
    ws.close()


def test_reject_gives_403(daphne):
    """accept: False from the application answers the handshake with 403."""
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(daphne.ws_url + "/ws/reject", timeout=10)
    assert info.value.status_code == 403


def test_close_while_connecting_gives_403(daphne):
    """close: True before accepting is a rejection (403), as in Daphne."""
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(daphne.ws_url + "/ws/close", timeout=10)
    assert info.value.status_code == 403


def test_connect_timeout_rejects_and_reports_disconnect(daphne, layer):
    """An application that never accepts gets the socket rejected after --websocket_connect_timeout."""
    events(layer, 100, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(daphne.ws_url + "/ws/never", timeout=10)
    assert info.value.status_code == 403
    assert 1.5 < time.monotonic() - started < 5
    (message,) = events(layer, 1)
    assert message["code"] == 1006 and message["order"] == 1 and message["path"] == "/ws/never"


def test_application_close_code(daphne, layer):
    """close: CODE closes with that code; the disconnect reports the code the peer answered with (as Daphne)."""
    events(layer, 100, timeout=0.2)
    ws = websocket.create_connection(daphne.ws_url + "/ws/a", timeout=10)
    ws.send("close:4001")
    opcode, frame = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame[:2], "big") == 4001
    ws.close()
    (message,) = events(layer, 1)
    assert message["code"] == 1000 and message["order"] == 2  # websocket-client answers a close frame with 1000


def test_client_close_code_reaches_application(daphne, layer):
    """The client's close code arrives in websocket.disconnect with order = frames + 1."""
    events(layer, 100, timeout=0.2)
    ws = websocket.create_connection(daphne.ws_url + "/ws/b", timeout=10)
    ws.send("one")
    assert ws.recv() == "one"
    ws.close(status=4321)
    (message,) = events(layer, 1)
    assert message["code"] == 4321 and message["order"] == 2 and message["path"] == "/ws/b"


def test_subprotocol_selection(daphne):
    """The first client-offered protocol the server accepts is echoed in the handshake."""
    ws = websocket.create_connection(
        daphne.ws_url + "/ws/p", subprotocols=["unknown", "chat.v2", "graphql-ws"], timeout=10
    )
    assert ws.getsubprotocol() == "chat.v2"
    ws.close()


def test_group_broadcast(daphne):
    """A group send reaches every member socket."""
    sockets = [websocket.create_connection(daphne.ws_url + "/ws/g", timeout=10) for _ in range(5)]
    for ws in sockets:
        ws.send("join:room")
        assert ws.recv() == "joined"
    sockets[0].send("send:room:hi all")
    assert [ws.recv() for ws in sockets] == ["hi all"] * 5
    for ws in sockets:
        ws.close()


def test_server_answers_pings(daphne):
    """A client ping gets a pong with the same payload."""
    ws = websocket.create_connection(daphne.ws_url + "/ws/ping", timeout=10)
    ws.ping("abc")
    opcode, payload = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_PONG and payload == b"abc"
    ws.close()


def test_server_pings_idle_sockets(redis_url, worker):
    """A socket silent for --ping-interval gets a ping, and is dropped when it never answers."""
    server = Daphne(redis_url, "--ping-interval", "1", "--ping-timeout", "1")
    try:
        sock = raw_websocket(server.port, "/ws/idle")
        assert sock.recv(2) == b"\x89\x00"  # a ping, which we leave unanswered
        started = time.monotonic()
        assert read_all(sock, 10) == b""  # dropped without a close frame
        assert time.monotonic() - started < 6
        sock.close()
    finally:
        server.stop()


def test_large_messages_both_ways(daphne):
    """A 600 KB binary message and a 70 KB text message survive the round trip (16- and 64-bit lengths)."""
    ws = websocket.create_connection(daphne.ws_url + "/ws/large", timeout=20)
    payload = bytes(i % 256 for i in range(600_000))
    ws.send_binary(payload)
    assert ws.recv() == payload
    ws.send("é" * 35_000)
    assert ws.recv() == "é" * 35_000
    ws.close()
