"""Request handlers use their connection and process only through interfaceserver.seam.

An HTTP exchange and a WebSocket are driven here with a socket that has the ClientSocket members and
nothing else, and with the process context behind a proxy that lets through only the members of
HttpServices / WebSocketServices: a handler reaching past the seam fails with an AttributeError.
"""

from __future__ import annotations

import inspect

import pytest

from interfaceserver.connection import Connection
from interfaceserver.exchange import Exchange
from interfaceserver.http11 import RequestParser
from interfaceserver.seam import ClientSocket, HttpServices, WebSocketServices
from interfaceserver.websocket import WebSocket
from tests.unit.test_is_connection import KEY_HEADERS, Harness, ws_frame


def _members(protocol: type) -> set[str]:
    return {
        name
        for cls in protocol.__mro__
        if cls.__module__ == "interfaceserver.seam"
        for name in vars(cls)
        if not name.startswith("_")
    }


class _Only:
    """``target`` seen through ``protocol``: any other attribute is an AttributeError naming it."""

    def __init__(self, target: object, protocol: type) -> None:
        self._target, self._allowed, self._name = target, _members(protocol), protocol.__name__

    def __getattr__(self, name: str):
        if name not in self._allowed:
            raise AttributeError(f"{name!r} is not part of {self._name}")
        return getattr(self._target, name)


class FakeSocket:
    """Exactly the ClientSocket members, recording what the handler asked for."""

    __slots__ = ("written", "closed", "aborted", "paused", "finished")

    def __init__(self) -> None:
        self.written, self.closed, self.aborted, self.paused, self.finished = b"", False, False, False, None

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def client(self):
        return ["10.1.1.1", 4000]

    def addresses(self):
        return ["10.1.1.1", 4000], ["10.0.0.1", 80], "http"

    def proxy_trusted(self) -> bool:
        return False

    def exchange_finished(self, exchange, keep_alive: bool) -> None:
        self.finished = keep_alive


def _head(raw: bytes):
    head, *rest = RequestParser(65536, 100).feed(raw)
    return head


def test_fake_socket_and_connection_both_have_the_whole_seam():
    """The fake used below and the real Connection each provide every ClientSocket member, as methods."""
    for implementation in (FakeSocket, Connection):
        missing = {name for name in _members(ClientSocket) if not inspect.isfunction(getattr(implementation, name, 0))}
        assert not missing, (implementation, missing)


def test_an_exchange_needs_only_the_seam():
    """A streamed POST and its reply run end to end on a ClientSocket fake and the HttpServices members."""
    h = Harness(body_stream_threshold=10)
    sock = FakeSocket()
    head = _head(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 25\r\n\r\n")
    exchange = Exchange(sock, _Only(h.ctx, HttpServices), head, "/up")
    exchange.body_received(b"0123456789abcdefghijklmno")
    exchange.body_ended()
    message = h.next("http.request")
    assert message["client"] == ["10.1.1.1", 4000] and message["body"] == b"0123456789"
    chunks = [h.next(message["body_channel"]) for _ in range(2)]
    assert b"".join(c["content"] for c in chunks) == b"abcdefghijklmno" and not chunks[-1]["more_content"]
    h.ctx.dispatch(message["reply_channel"], {"status": 201, "content": b"ok"})
    assert sock.written.startswith(b"HTTP/1.1 201 Created\r\n") and sock.written.endswith(b"ok")
    assert sock.finished is True and not sock.paused


def test_a_websocket_needs_only_the_seam():
    """Handshake, a frame each way, the peer's close and the disconnect run on the seam alone."""
    h = Harness()
    sock = FakeSocket()
    head = _head(b"GET /ws HTTP/1.1\r\nHost: x\r\n" + KEY_HEADERS + b"\r\n")
    ws = WebSocket(sock, _Only(h.ctx, WebSocketServices), head, "/ws", b"dGhlIHNhbXBsZSBub25jZQ==", [])
    reply = h.next("websocket.connect")["reply_channel"]
    h.ctx.dispatch(reply, {"accept": True, "text": "hello"})
    assert sock.written.startswith(b"HTTP/1.1 101 ") and sock.written.endswith(b"\x81\x05hello")
    ws.data_received(ws_frame(0x1, b"hi"))
    assert h.next("websocket.receive")["text"] == "hi"
    ws.data_received(ws_frame(0x8, b"\x03\xe8"))
    ws.connection_lost()
    assert sock.closed and h.next("websocket.disconnect")["code"] == 1000


def test_the_proxy_refuses_what_the_seam_does_not_list():
    """The narrowing proxy is real: the process's connection set is not among a handler's services."""
    h = Harness()
    services = _Only(h.ctx, HttpServices)
    assert services.draining is False
    with pytest.raises(AttributeError, match="'connections' is not part of HttpServices"):
        services.connections  # noqa: B018
