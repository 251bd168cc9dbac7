"""What the server writes when the application's reply is inconsistent, and how often it says so.

Connections on StringTransport with a fake clock and an in-memory layer (the harness of
test_is_connection): a wrong Content-Length never puts surplus bytes on the wire and a short body
closes the connection; a client that never reads is dropped with one log line.
"""

from __future__ import annotations

import logging

from tests.unit.test_is_connection import Harness


def _request(h, raw=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"):
    conn, transport = h.connect()
    conn.dataReceived(raw)
    return conn, transport, h.next("http.request")["reply_channel"]


def _body(transport) -> bytes:
    return transport.value().partition(b"\r\n\r\n")[2]


def test_declared_longer_than_sent_closes_the_connection(caplog):
    """Content-Length 10 with 5 bytes sent: the 5 bytes go out, then the connection closes, one log line."""
    h = Harness()
    conn, transport, reply = _request(h)
    with caplog.at_level(logging.WARNING, "interfaceserver"):
        h.ctx.dispatch(reply, {"status": 200, "headers": [(b"Content-Length", b"10")], "content": b"12345"})
    assert b"Content-Length: 10\r\n" in transport.value() and _body(transport) == b"12345"
    assert transport.disconnecting
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"HTTP response on {reply} ended 5 bytes short of its Content-Length 10; closing the connection"]


def test_declared_shorter_than_sent_is_truncated(caplog):
    """Content-Length 5 with 11 bytes sent: only 5 bytes are written, logged once; the framing stays intact."""
    h = Harness()
    conn, transport, reply = _request(h)
    with caplog.at_level(logging.WARNING, "interfaceserver"):
        h.ctx.dispatch(reply, {"status": 200, "headers": [(b"Content-Length", b"5")], "content": b"hello world"})
    assert _body(transport) == b"hello"
    assert [r.getMessage() for r in caplog.records] == [
        f"HTTP response on {reply} is longer than its Content-Length 5; the surplus is dropped"
    ]
    assert not transport.disconnecting  # exactly 5 bytes went out: the next response is framed correctly
    transport.clear()
    conn.dataReceived(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert h.next("http.request")["path"] == "/2"


def test_streamed_overrun_is_cut_at_the_declared_length(caplog):
    """A streamed reply past its Content-Length: bytes up to it are sent, later chunks not at all, one line."""
    h = Harness()
    conn, transport, reply = _request(h)
    with caplog.at_level(logging.WARNING, "interfaceserver"):
        h.ctx.dispatch(
            reply, {"status": 200, "headers": [(b"Content-Length", b"10")], "content": b"abcd", "more_content": True}
        )
        h.ctx.dispatch(reply, {"content": b"efgh", "more_content": True})
        h.ctx.dispatch(reply, {"content": b"ijkl", "more_content": True})
        h.ctx.dispatch(reply, {"content": b"mnop", "more_content": False})
    assert _body(transport) == b"abcdefghij"
    assert b"Transfer-Encoding" not in transport.value()
    assert len(caplog.records) == 1 and reply in caplog.records[0].getMessage()


def test_streamed_short_body_closes_the_connection():
    """A streamed reply that ends before its Content-Length closes the connection instead of keeping it alive."""
    h = Harness()
    conn, transport, reply = _request(h)
    h.ctx.dispatch(
        reply, {"status": 200, "headers": [(b"Content-Length", b"8")], "content": b"abc", "more_content": True}
    )
    assert not transport.disconnecting
    h.ctx.dispatch(reply, {"content": b"de"})
    assert _body(transport) == b"abcde" and transport.disconnecting


def test_exact_content_length_keeps_alive(caplog):
    """A body that matches its Content-Length is written whole, without a log line, and the connection stays."""
    h = Harness()
    conn, transport, reply = _request(h)
    with caplog.at_level(logging.WARNING, "interfaceserver"):
        h.ctx.dispatch(
            reply, {"status": 200, "headers": [(b"Content-Length", b"5")], "content": b"hel", "more_content": True}
        )
        h.ctx.dispatch(reply, {"content": b"lo"})
    assert _body(transport) == b"hello" and not transport.disconnecting and not caplog.records


def test_head_and_304_replies_are_not_counted():
    """HEAD and 304 replies carry a Content-Length with no body: no truncation, no close."""
    h = Harness()
    conn, transport, reply = _request(h, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    h.ctx.dispatch(reply, {"status": 200, "headers": [(b"Content-Length", b"50")], "content": b""})
    assert not transport.disconnecting
    conn, transport, reply = _request(h)
    h.ctx.dispatch(reply, {"status": 304, "headers": [(b"Content-Length", b"50")]})
    assert not transport.disconnecting


def test_a_client_that_never_reads_is_logged_once(caplog):
    """A client dropped for reading too slowly gives one warning, however many writes follow the drop."""
    h = Harness(write_buffer_limit=300)
    conn, transport, reply = _request(h)
    conn.pauseProducing()
    with caplog.at_level(logging.WARNING, "interfaceserver"):
        h.ctx.dispatch(reply, {"status": 200, "content": b"x" * 50, "more_content": True})
        for _ in range(200):  # the transport reports the loss only later; replies keep arriving meanwhile
            h.ctx.dispatch(reply, {"content": b"x" * 400, "more_content": True})
    slow = [r for r in caplog.records if "reads too slowly" in r.getMessage()]
    assert len(slow) == 1 and transport.disconnecting
