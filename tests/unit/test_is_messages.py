"""Pure request/reply translation: messages exactly as Daphne 1.4.2 sends them, and its reply rules."""

from __future__ import annotations

import pytest

from interfaceserver.errors import ProtocolError, ReplyError
from interfaceserver.http11 import RequestParser
from interfaceserver.messages import (
    http_disconnect_message,
    http_request_message,
    parse_response,
    peer_is_trusted,
    split_target,
    websocket_connect_message,
    websocket_disconnect_message,
    websocket_receive_message,
    websocket_reply_actions,
)

#: The keys of an ``http.request`` in the order Daphne 1.4.2 writes them (pinned for the server and the WSGI adapter).
DAPHNE_HTTP_REQUEST_KEYS = [
    "reply_channel",
    "http_version",
    "method",
    "path",
    "root_path",
    "scheme",
    "query_string",
    "headers",
    "body",
    "client",
    "server",
]


def head_of(raw: bytes):
    return RequestParser().feed(raw)[0]


def test_http_request_matches_the_observed_daphne_message():
    """The reference's captured POST (§2.1) is reproduced value for value, in the key order of Daphne's source."""
    head = head_of(
        b"POST /some%20path/?q=%C2%A3&r=2 HTTP/1.1\r\nHost: 127.0.0.1:8765\r\nUser-Agent: curl/7.88.1\r\n"
        b"Accept: */*\r\nContent-Type: application/x-www-form-urlencoded\r\nCookie: a=b\r\nX-Custom_Under: 1\r\n"
        b"Content-Length: 12\r\n\r\n"
    )
    message = http_request_message(
        head,
        reply_channel="daphne.response.sVEValHoxd!ABoKWxaDlR",
        client=["127.0.0.1", 39836],
        server=["127.0.0.1", 8765],
        scheme="http",
        body=b"x=1&y=%C2%A3",
    )
    assert message == {
        "reply_channel": "daphne.response.sVEValHoxd!ABoKWxaDlR",
        "http_version": "1.1",
        "method": "POST",
        "path": "/some path/",
        "query_string": b"q=%C2%A3&r=2",
        "root_path": "",
        "scheme": "http",
        "headers": [
            [b"host", b"127.0.0.1:8765"],
            [b"user-agent", b"curl/7.88.1"],
            [b"accept", b"*/*"],
            [b"content-type", b"application/x-www-form-urlencoded"],
            [b"cookie", b"a=b"],
            [b"content-length", b"12"],
        ],
        "body": b"x=1&y=%C2%A3",
        "client": ["127.0.0.1", 39836],
        "server": ["127.0.0.1", 8765],
    }
    assert list(message) == DAPHNE_HTTP_REQUEST_KEYS


def test_repeated_request_headers_grouped_like_twisted():
    """Repeats of a header name are grouped under its first occurrence, as Twisted handed them to Daphne."""
    head = head_of(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\n\r\n")
    message = http_request_message(head, reply_channel="r!x", client=None, server=None, scheme="http")
    assert message["headers"] == [[b"host", b"x"], [b"x-a", b"1"], [b"x-a", b"3"], [b"x-b", b"2"]]


def test_root_path_header_wins_and_is_not_forwarded():
    """Daphne-Root-Path is unquoted into root_path and removed from headers; --root-path is verbatim."""
    head = head_of(b"GET / HTTP/1.1\r\nHost: x\r\nDaphne-Root-Path: /a%20b\r\n\r\n")
    message = http_request_message(
        head, reply_channel="r!x", client=None, server=None, scheme="http", root_path="/x%20y"
    )
    assert message["root_path"] == "/a b" and message["headers"] == [[b"host", b"x"]]
    head = head_of(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (
        http_request_message(head, reply_channel="r!x", client=None, server=None, scheme="http", root_path="/x%20y")[
            "root_path"
        ]
        == "/x%20y"
    )


def test_body_channel_is_added_when_streaming():
    """A streamed request carries body_channel after body."""
    head = head_of(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n")
    message = http_request_message(
        head,
        reply_channel="r!x",
        client=None,
        server=None,
        scheme="http",
        body=b"abc",
        body_channel="http.request.body?abc",
    )
    assert message["body_channel"] == "http.request.body?abc"
    assert list(message).index("body_channel") == list(message).index("body") + 1


def test_proxy_headers():
    """X-Forwarded-For (leftmost), X-Forwarded-Port and X-Forwarded-Proto replace client and scheme."""
    head = head_of(
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.9, 10.0.0.1\r\nX-Forwarded-Port: 81\r\n"
        b"X-Forwarded-Proto: https\r\n\r\n"
    )
    message = http_request_message(
        head, reply_channel="r!x", client=["127.0.0.1", 5], server=None, scheme="http", proxy_headers=True
    )
    assert message["client"] == ["10.0.0.9", 81] and message["scheme"] == "https"
    bad_port = head_of(b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Port: x\r\n\r\n")
    assert http_request_message(
        bad_port, reply_channel="r!x", client=["127.0.0.1", 5], server=None, scheme="http", proxy_headers=True
    )["client"] == ["10.0.0.9", 0]
    untrusted = http_request_message(head, reply_channel="r!x", client=["127.0.0.1", 5], server=None, scheme="http")
    assert untrusted["client"] == ["127.0.0.1", 5] and untrusted["scheme"] == "http"


@pytest.mark.parametrize(
    ("peer", "trusted", "result"),
    [
        (["127.0.0.1", 1], ("127.0.0.1",), True),
        (["10.1.2.3", 1], ("10.0.0.0/8",), True),
        (["10.1.2.3", 1], ("127.0.0.1", "::1"), False),
        (None, ("unix",), True),
        (None, ("127.0.0.1",), False),
        (["8.8.8.8", 1], ("*",), True),
    ],
)
def test_peer_is_trusted(peer, trusted, result):
    """Proxy headers are believed only from listed addresses/networks, 'unix' peers, or '*'."""
    assert peer_is_trusted(peer, trusted) is result


def test_split_target():
    """Paths are percent-decoded, queries kept raw, absolute-form targets kept whole as Daphne 1.4.2 did."""
    assert split_target(b"/a%2Fb?x=%20") == ("/a/b", b"x=%20")
    assert split_target(b"http://example.com/p%20q?x=1") == ("http://example.com/p q", b"x=1")


def test_non_ascii_path_is_400():
    """A raw non-ASCII path is refused with Daphne's 400 'Invalid characters in path'."""
    with pytest.raises(ProtocolError) as info:
        split_target("/café".encode())
    assert (info.value.status, info.value.detail) == (400, "Invalid characters in path")


def test_websocket_connect_message():
    """websocket.connect: duplicate headers comma-joined, '_' names dropped, order 0, no scheme or root_path."""
    head = head_of(
        b"GET /ws/chat%20room/?a=1 HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: graphql-ws\r\n"
        b"Sec-WebSocket-Protocol: other\r\nBad_Name: 1\r\n\r\n"
    )
    message = websocket_connect_message(head, reply_channel="r!w", client=["127.0.0.1", 2], server=["127.0.0.1", 1])
    assert message == {
        "reply_channel": "r!w",
        "path": "/ws/chat room/",
        "query_string": b"a=1",
        "headers": [[b"host", b"h"], [b"sec-websocket-protocol", b"graphql-ws,other"]],
        "client": ["127.0.0.1", 2],
        "server": ["127.0.0.1", 1],
        "order": 0,
    }
    assert list(message) == ["path", "headers", "query_string", "client", "server", "reply_channel", "order"]


def test_websocket_event_messages():
    """receive carries exactly one of text/bytes; disconnect carries code and order; http.disconnect its path."""
    assert websocket_receive_message("r!w", "/p", 3, "hi") == {
        "reply_channel": "r!w",
        "path": "/p",
        "order": 3,
        "text": "hi",
    }
    assert "text" not in websocket_receive_message("r!w", "/p", 1, b"\x00")
    assert websocket_disconnect_message("r!w", "/p", 1006, 4) == {
        "reply_channel": "r!w",
        "code": 1006,
        "path": "/p",
        "order": 4,
    }
    assert http_disconnect_message("r!h", "/x") == {"reply_channel": "r!h", "path": "/x"}


def test_parse_response_rules():
    """The first message needs a status, later ones must not have one; text header names are latin-1 encoded."""
    assert parse_response(
        {"status": 200, "headers": [("Content-Type", b"text/plain")], "content": b"x", "more_content": True}, False
    ) == (200, [(b"Content-Type", b"text/plain")], b"x", True)
    assert parse_response({"content": b"y"}, True) == (None, [], b"y", False)
    with pytest.raises(ReplyError, match="needs a status"):
        parse_response({"content": b"x"}, False)
    with pytest.raises(ReplyError, match="Got multiple Response messages"):
        parse_response({"status": 200}, True)
    with pytest.raises(ReplyError, match="line break"):
        parse_response({"status": 200, "headers": [[b"X", b"a\r\nInjected: 1"]]}, False)
    with pytest.raises(ReplyError, match="content must be bytes"):
        parse_response({"status": 200, "content": "text"}, False)


@pytest.mark.parametrize(
    ("message", "connecting", "actions"),
    [
        ({"accept": True}, True, [("accept", None)]),
        ({"accept": True}, False, []),
        ({"accept": False}, True, [("reject", None)]),
        ({"accept": False, "text": "ignored"}, True, [("reject", None)]),
        ({"text": "hi"}, True, [("accept", None), ("text", "hi")]),
        ({"bytes": b"\x00"}, False, [("bytes", b"\x00")]),
        ({"close": True}, True, [("reject", None)]),
        ({"close": True}, False, [("close", 1000)]),
        ({"close": 4000}, False, [("close", 4000)]),
        ({"close": 1011}, False, [("close", 1011)]),  # the wire rule: a registered code is relayed
        ({"text": "bye", "close": 4001}, True, [("accept", None), ("text", "bye"), ("close", 4001)]),
        ({"text": ""}, False, [("text", "")]),  # the empty message is sent (Daphne 1.4.2 dropped it)
        ({"bytes": b""}, False, [("bytes", b"")]),
        ({"text": ""}, True, [("accept", None), ("text", "")]),
        ({"text": None}, False, []),
        ({"text": "", "bytes": b"x"}, False, [("bytes", b"x")]),
    ],
)
def test_websocket_reply_actions(message, connecting, actions):
    """Daphne's dispatch_reply rules (§2.8) as actions."""
    assert websocket_reply_actions(message, connecting) == actions


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"txt": "x"}, "unknown keys"),
        ({"text": "a", "bytes": b"b"}, "both bytes and text"),
        ({"close": 1005}, "invalid WebSocket close code 1005"),
        ({"close": 1004}, "invalid WebSocket close code 1004"),
        ({"close": 2999}, "invalid WebSocket close code 2999"),
        ({"close": 4000.0}, "invalid WebSocket close code 4000.0"),
        ({"text": b"bytes"}, "'text' must be str"),
    ],
)
def test_websocket_reply_errors(message, error):
    """Malformed WebSocket replies raise ReplyError (Daphne's 'send decode error')."""
    with pytest.raises(ReplyError, match=error):
        websocket_reply_actions(message, False)


def test_websocket_connect_honours_proxy_headers():
    """websocket.connect takes client from X-Forwarded-For/-Port when the peer is trusted (Daphne 1.4.2 fix)."""
    head = head_of(b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.7\r\nX-Forwarded-Port: 99\r\n\r\n")
    message = websocket_connect_message(
        head, reply_channel="r!w", client=["127.0.0.1", 1], server=None, proxy_headers=True
    )
    assert message["client"] == ["10.0.0.7", 99]
    assert websocket_connect_message(head, reply_channel="r!w", client=["127.0.0.1", 1], server=None)["client"] == [
        "127.0.0.1",
        1,
    ]


def test_websocket_reply_actions_are_wsaction_members() -> None:
    """Reply actions come back as WsAction members (an enum), not bare strings."""
    from interfaceserver.lifecycle import WsAction
    from interfaceserver.messages import websocket_reply_actions

    actions = websocket_reply_actions({"text": "hi", "close": True}, connecting=True)
    assert [type(action) for action, _ in actions] == [WsAction, WsAction, WsAction]
    assert [action for action, _ in actions] == [WsAction.ACCEPT, WsAction.TEXT, WsAction.CLOSE]
