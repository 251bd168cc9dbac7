"""A WebSocket refused because no consumer accepted it in time is explained in one warning, not just WSREJECT."""

from __future__ import annotations

import logging

from tests.unit.test_is_connection import Harness, open_websocket

EXPECTED = (
    "WebSocket /chat/lobby/ rejected: no consumer accepted it within the connect timeout (2s). "
    "A websocket.connect consumer must reply {'accept': True} (code ported from Channels 0.x often "
    "lacks one)."
)


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "interfaceserver" and r.levelno >= logging.WARNING]


def test_connect_timeout_logs_one_warning_naming_the_path(caplog):
    """After the connect timeout the socket gets 403 and the log one warning with its path and the cause."""
    caplog.set_level(logging.INFO, logger="interfaceserver")
    h = Harness(websocket_connect_timeout=2, websocket_handshake_timeout=-1)
    conn, transport, _ = open_websocket(h, path=b"/chat/lobby/?room=1")
    h.advance(1.5)
    assert _warnings(caplog) == [] and transport.value() == b""
    h.advance(5)
    assert transport.value() == b"HTTP/1.1 403 Access denied\r\n\r\n"
    assert _warnings(caplog) == [EXPECTED]
    assert "WSREJECT /chat/lobby/" in h.log.getvalue()


def test_explicit_reject_and_accept_log_no_warning(caplog):
    """A consumer's own accept: False, or an accept in time, is not the timeout warning."""
    caplog.set_level(logging.INFO, logger="interfaceserver")
    h = Harness(websocket_connect_timeout=2, websocket_handshake_timeout=-1)
    _, refused, connect = open_websocket(h, path=b"/chat/lobby/")
    h.ctx.dispatch(connect["reply_channel"], {"accept": False})
    _, accepted, connect = open_websocket(h, path=b"/chat/lobby/")
    h.ctx.dispatch(connect["reply_channel"], {"accept": True})
    h.advance(5)
    assert refused.value() == b"HTTP/1.1 403 Access denied\r\n\r\n"
    assert accepted.value().startswith(b"HTTP/1.1 101")
    assert _warnings(caplog) == []
