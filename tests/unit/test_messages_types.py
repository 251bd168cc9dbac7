"""channellayer.messages: the ASGI 1 message shapes (required vs optional keys) and the two close-code rules."""

from __future__ import annotations

import io
import struct
import types
import typing
from typing import Any

import pytest

from channellayer import messages as m
from interfaceserver.errors import ReplyError, WebSocketProtocolError
from interfaceserver.http11 import RequestParser
from interfaceserver.messages import (
    http_disconnect_message,
    http_request_message,
    websocket_connect_message,
    websocket_disconnect_message,
    websocket_receive_message,
    websocket_reply_actions,
)
from interfaceserver.websocket_frames import CLOSE, FrameParser
from interfaceserver.wsgi import request_message
from worker.exceptions import WebsocketCloseException


@pytest.mark.parametrize(
    ("shape", "required", "optional"),
    [
        (
            m.HttpRequest,
            {"reply_channel", "http_version", "method", "path", "query_string", "headers"},
            {"root_path", "scheme", "body", "body_channel", "client", "server"},
        ),
        (m.HttpRequestBodyChunk, set(), {"content", "closed", "more_content"}),
        (m.HttpDisconnect, {"reply_channel", "path"}, set()),
        (m.HttpResponse, {"status"}, {"headers", "content", "more_content", "status_text"}),
        (m.HttpResponseChunk, set(), {"content", "more_content"}),
        (
            m.WebSocketConnect,
            {"reply_channel", "path", "headers", "order"},
            {"query_string", "client", "server", "scheme", "root_path"},
        ),
        (m.WebSocketReceive, {"reply_channel", "path", "order"}, {"text", "bytes"}),
        (m.WebSocketDisconnect, {"reply_channel", "code", "path", "order"}, set()),
        (m.WebSocketReply, set(), {"bytes", "text", "close", "accept"}),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_required_and_optional_keys_follow_the_spec(shape, required, optional):
    """Each message type requires exactly the keys ASGI 1 requires and leaves the spec's optional ones optional."""
    assert (set(shape.__required_keys__), set(shape.__optional_keys__)) == (required, optional)


def _conforms(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arm) for arm in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_conforms(element, item) for element in value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def assert_shape(message: dict[str, Any], shape: Any) -> None:
    hints = typing.get_type_hints(shape)
    assert shape.__required_keys__ <= message.keys() <= hints.keys(), sorted(message)
    for key, value in message.items():
        assert _conforms(value, hints[key]), (key, value, hints[key])


def _head(raw: bytes):
    return RequestParser().feed(raw)[0]


def test_server_and_wsgi_builders_produce_the_typed_shapes():
    """Every message the interface server and the WSGI adapter build has its type's keys and value types."""
    head = _head(b"POST /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
    peer = ["127.0.0.1", 1]
    assert_shape(
        http_request_message(head, reply_channel="r!a", client=peer, server=None, scheme="http", body_channel="b?c"),
        m.HttpRequest,
    )
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO()}
    assert_shape(dict(request_message(environ, "w!a")), m.HttpRequest)
    assert_shape(http_disconnect_message("r!a", "/a b"), m.HttpDisconnect)
    ws_head = _head(b"GET /ws HTTP/1.1\r\nHost: h\r\n\r\n")
    assert_shape(websocket_connect_message(ws_head, reply_channel="r!b", client=peer, server=peer), m.WebSocketConnect)
    assert_shape(websocket_receive_message("r!b", "/ws", 1, "text"), m.WebSocketReceive)
    assert_shape(websocket_receive_message("r!b", "/ws", 2, b"\x00"), m.WebSocketReceive)
    assert_shape(websocket_disconnect_message("r!b", "/ws", 1000, 3), m.WebSocketDisconnect)


def test_wire_close_codes():
    """The wire rule (RFC 6455 §7.4 + IANA): 1000-1003, 1007-1014, 3000-4999; never 1004-1006, 1015 or non-ints."""
    for code in (1000, 1001, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999):
        assert m.is_wire_close_code(code), code
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, True, 1000.0, "1000", None):
        assert not m.is_wire_close_code(code), code


def test_application_close_codes():
    """The application rule: 1000 or 3000-4999 (Channels 1.1.8 / Autobahn's sendClose); every one is a wire code."""
    for code in (1000, 3000, 3999, 4000, 4999):
        assert m.is_application_close_code(code), code
    for code in (999, 1001, 1008, 1011, 1013, 2999, 5000, True, 4000.0, "4000", None):
        assert not m.is_application_close_code(code), code
    assert m.APPLICATION_CLOSE_CODES < m.WIRE_CLOSE_CODES


def _peer_close_accepted(code: int) -> bool:
    frame = bytes([0x80 | CLOSE, 0x80 | 2]) + b"\x00\x00\x00\x00" + struct.pack("!H", code)
    try:
        return FrameParser().feed(frame) == [(CLOSE, (code, ""))]
    except WebSocketProtocolError as exc:
        assert exc.code == 1002
        return False


def _reply_close_accepted(code: int) -> bool:
    try:
        return websocket_reply_actions({"close": code}, False) == [("close", code)]
    except ReplyError:
        return False


def test_server_uses_the_wire_rule_for_peer_frames_and_replies():
    """A peer's close frame and an application's close reply are judged by the same wire rule, code for code."""
    for code in range(0, 5100):
        assert _peer_close_accepted(code) == _reply_close_accepted(code) == (code in m.WIRE_CLOSE_CODES), code


def test_worker_close_exception_uses_the_application_rule():
    """WebsocketCloseException takes exactly the application codes (plus None and True); 1011 is refused."""
    for code in range(0, 5100):
        try:
            WebsocketCloseException(code)
        except ValueError:
            accepted = False
        else:
            accepted = True
        assert accepted == (code in m.APPLICATION_CLOSE_CODES), code
    assert WebsocketCloseException(None).code is None
    assert WebsocketCloseException(True).code is True
    assert websocket_reply_actions({"close": 1011}, False) == [("close", 1011)]  # the server relays it
