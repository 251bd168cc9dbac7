"""The Twisted internals interfaceserver.twisted_compat relies on, checked against the installed Twisted.

A failure here means Twisted changed something private under us: the message names the version.
The fix goes in interfaceserver/twisted_compat.py only (and the Twisted pin in setup.py may need a bound).
"""

from __future__ import annotations

import socket

import pytest
from twisted.internet import tcp
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.web import http

from interfaceserver.twisted_compat import (
    H2_AVAILABLE,
    TWISTED_VERSION,
    can_send_now,
    h2_streams_open,
    new_h2_connection,
    send_now,
)

CHANGED = f"Twisted {TWISTED_VERSION} changed an internal that interfaceserver/twisted_compat.py relies on"


@pytest.fixture
def tcp_pair():
    """A real twisted tcp.Server over one end of a socket pair (never run by a reactor), and the other end."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.settimeout(1)
    transport = tcp.Server(ours, Protocol(), ("127.0.0.1", 1), None, 0, MemoryReactor())
    yield transport, theirs
    ours.close()
    theirs.close()


def test_plain_tcp_connection_has_the_write_buffer_send_now_reads(tcp_pair):
    """A plain TCP transport still has _tempDataBuffer, dataBuffer and offset, as send_now expects."""
    transport, _ = tcp_pair
    assert can_send_now(transport), f"{CHANGED}: tcp.Connection's write buffer (_tempDataBuffer/dataBuffer/offset)"
    assert isinstance(transport._tempDataBuffer, list), CHANGED
    assert isinstance(transport.dataBuffer, bytes) and isinstance(transport.offset, int), CHANGED


def test_send_now_writes_straight_through_only_while_twisted_holds_nothing(tcp_pair):
    """With an empty buffer send_now puts bytes on the socket; once Twisted queued bytes it sends nothing (order kept)."""
    transport, peer = tcp_pair
    assert send_now(transport, b"first") == b"", CHANGED
    assert peer.recv(100) == b"first"
    transport.write(b"queued")  # the reactor never runs, so Twisted keeps these in its buffer
    assert send_now(transport, b"after") == b"after", f"{CHANGED}: send_now overtook bytes Twisted had queued"
    transport.loseConnection()
    assert send_now(transport, b"late") == b"late"


def test_in_memory_and_tls_transports_take_twisteds_own_path():
    """A transport that is not a plain tcp.Connection is never written to behind Twisted's back."""
    assert not can_send_now(StringTransport())


class _NoContent(http.Request):
    def process(self) -> None:
        self.setResponseCode(204)
        self.finish()


def test_h2_connection_serves_a_stream_through_our_request_factory():
    """twisted.web._http2 still builds streams through requestFactory, counts them in .streams and ends them."""
    pytest.importorskip("h2", reason="Twisted's http2 extra is not installed")
    assert H2_AVAILABLE, f"{CHANGED}: the h2 package is installed but twisted.web._http2.H2Connection is gone"
    from h2.config import H2Configuration
    from h2.connection import H2Connection as Client
    from h2.events import ResponseReceived

    clock, made = Clock(), []

    def request_factory(stream):
        made.append(_NoContent(stream, queued=False))
        return made[-1]

    server = new_h2_connection(clock, request_factory, 180)
    transport = StringTransport()
    server.makeConnection(transport)
    client = Client(H2Configuration(client_side=True))
    client.initiate_connection()
    client.send_headers(1, [(":method", "GET"), (":path", "/"), (":scheme", "https"), (":authority", "x")])
    server.dataReceived(client.data_to_send())
    assert len(made) == 1, f"{CHANGED}: H2Connection no longer calls requestFactory per stream"
    assert h2_streams_open(server) == 1, f"{CHANGED}: H2Connection.streams"
    client.end_stream(1)
    server.dataReceived(client.data_to_send())
    clock.advance(0)
    events = client.receive_data(transport.value())
    assert any(isinstance(e, ResponseReceived) and (b":status", b"204") in e.headers for e in events), events
    assert h2_streams_open(server) == 0, f"{CHANGED}: a finished stream stays in H2Connection.streams"
    server.connectionLost(None)
