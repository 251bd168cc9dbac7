"""Pure translation between parsed requests and ASGI 1 messages, exactly as Daphne 1.4.2 did it.

Reference: channels1.md §2 (message formats) and §4.4/§4.5 (what Daphne sends). No I/O and no
Twisted here: a request head plus connection facts go in, a message dict comes out; a reply dict
goes in, validated pieces (or a list of WebSocket actions) come out. Key order follows Daphne's so
that a captured message compares equal, key by key and in order. :func:`build_http_request` is the
one place an ``http.request`` is put together, for the server here and for the WSGI adapter.

The shapes are the TypedDicts of :mod:`channellayer.messages`, and the builders return them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from channellayer.messages import (
    HttpDisconnect,
    HttpRequest,
    Peer,
    RequestHeaders,
    WebSocketConnect,
    WebSocketDisconnect,
    WebSocketReceive,
    is_wire_close_code,
)

from .errors import ProtocolError, ReplyError
from .http11 import RequestHead
from .lifecycle import WsAction

__all__ = [
    "Peer",
    "build_http_request",
    "forwarded",
    "http_disconnect_message",
    "http_request_message",
    "parse_response",
    "peer_is_trusted",
    "split_target",
    "websocket_connect_message",
    "websocket_disconnect_message",
    "websocket_receive_message",
    "websocket_reply_actions",
]

_WS_REPLY_KEYS = frozenset({"bytes", "text", "close", "accept"})


def split_target(target: bytes) -> tuple[str, bytes]:
    """``(path, query_string)`` from a request target: path ASCII-checked and unquoted, query raw.

    A non-ASCII path raises ProtocolError(400, "Invalid characters in path") as in Daphne. An
    absolute-form target never gets here: the HTTP/1 parser has already turned it into origin form
    (RFC 9112 §3.2.2; Daphne 1.4.2 kept the scheme and host in ``path``).
    """
    raw_path, _, query = target.partition(b"?")
    try:
        text = raw_path.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(400, "Invalid characters in path") from None
    return unquote(text), query


def peer_is_trusted(peer: Peer, trusted: Sequence[str]) -> bool:
    """Whether proxy headers from ``peer`` are believed: "*" trusts all, "unix" trusts UNIX sockets."""
    if "*" in trusted:
        return True
    if peer is None:
        return "unix" in trusted
    host = str(peer[0])
    for entry in trusted:
        if entry == "unix":
            continue
        try:
            if "/" in entry:
                if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                    return True
            elif ipaddress.ip_address(host) == ipaddress.ip_address(entry):
                return True
        except ValueError:
            if host == entry:
                return True
    return False


def forwarded(headers: list[tuple[bytes, bytes]], client: Peer, scheme: str) -> tuple[Peer, str]:
    """Daphne's parse_x_forwarded_for: leftmost X-Forwarded-For, its X-Forwarded-Port, X-Forwarded-Proto."""
    found = {}
    for name, value in headers:
        if name in (b"x-forwarded-for", b"x-forwarded-port", b"x-forwarded-proto") and name not in found:
            found[name] = value.decode("latin-1")
    if b"x-forwarded-for" not in found:
        return client, scheme
    address = found[b"x-forwarded-for"].split(",")[0].strip()
    port = 0
    if b"x-forwarded-port" in found:
        try:
            port = int(found[b"x-forwarded-port"])
        except ValueError:
            pass
    return [address, port], found.get(b"x-forwarded-proto", scheme)


def _clean_headers(headers: list[tuple[bytes, bytes]]) -> tuple[RequestHeaders, str | None]:
    """Drop names containing ``_`` (CVE-2015-0219) and take out ``daphne-root-path`` (returned unquoted)."""
    # Twisted's Headers grouped repeats of a name under its first occurrence; Daphne sent that order.
    grouped: dict[bytes, list[bytes]] = {}
    root_path = None
    for name, value in headers:
        if b"_" in name:
            continue
        if name == b"daphne-root-path":
            root_path = unquote(value.decode("latin-1"))
            continue
        grouped.setdefault(name, []).append(value)
    return [[name, value] for name, values in grouped.items() for value in values], root_path


def build_http_request(
    *,
    reply_channel: str,
    http_version: str,
    method: str,
    path: str,
    root_path: str,
    scheme: str,
    query_string: bytes,
    headers: RequestHeaders,
    body: bytes,
    body_channel: str | None,
    client: Peer,
    server: Peer,
) -> HttpRequest:
    """The ``http.request`` message from its parts, keys in Daphne 1.4.2's order, ``body_channel``
    (when the body is streamed) right after ``body``."""
    message: HttpRequest = {
        "reply_channel": reply_channel,
        "http_version": http_version,
        "method": method,
        "path": path,
        "root_path": root_path,
        "scheme": scheme,
        "query_string": query_string,
        "headers": headers,
        "body": body,
    }
    if body_channel is not None:
        message["body_channel"] = body_channel
    message["client"] = client
    message["server"] = server
    return message


def http_request_message(
    head: RequestHead,
    *,
    reply_channel: str,
    client: Peer,
    server: Peer,
    scheme: str,
    root_path: str = "",
    proxy_headers: bool = False,
    body: bytes = b"",
    body_channel: str | None = None,
) -> HttpRequest:
    """The ``http.request`` message Daphne 1.4.2 sends for ``head`` (plus ``body_channel`` when streaming).

    ``proxy_headers`` means the peer is trusted and X-Forwarded-* override ``client`` and ``scheme``.
    """
    path, query_string = split_target(head.target)
    if proxy_headers:
        client, scheme = forwarded(head.headers, client, scheme)
    headers, header_root = _clean_headers(head.headers)
    message = build_http_request(
        reply_channel=reply_channel,
        http_version=head.http_version,
        method=head.method.decode("ascii"),
        path=path,
        root_path=root_path if header_root is None else header_root,
        scheme=scheme,
        query_string=query_string,
        headers=headers,
        body=body,
        body_channel=body_channel,
        client=client,
        server=server,
    )
    return message


def http_disconnect_message(reply_channel: str, path: str) -> HttpDisconnect:
    message: HttpDisconnect = {"reply_channel": reply_channel, "path": path}
    return message


def websocket_connect_message(
    head: RequestHead, *, reply_channel: str, client: Peer, server: Peer, proxy_headers: bool = False
) -> WebSocketConnect:
    """``websocket.connect`` as Daphne 1.4.2 sends it: duplicate headers comma-joined, no scheme/root_path."""
    path, query_string = split_target(head.target)
    if proxy_headers:
        client, _ = forwarded(head.headers, client, "ws")
    joined: dict[bytes, bytes] = {}
    for name, value in head.headers:
        if b"_" in name:
            continue
        joined[name] = joined[name] + b"," + value if name in joined else value
    message: WebSocketConnect = {
        "path": path,
        "headers": [[name, value] for name, value in joined.items()],
        "query_string": query_string,
        "client": client,
        "server": server,
        "reply_channel": reply_channel,
        "order": 0,
    }
    return message


def websocket_receive_message(reply_channel: str, path: str, order: int, payload: str | bytes) -> WebSocketReceive:
    message: WebSocketReceive = {"reply_channel": reply_channel, "path": path, "order": order}
    if isinstance(payload, str):
        message["text"] = payload
    else:
        message["bytes"] = payload
    return message


def websocket_disconnect_message(reply_channel: str, path: str, code: int, order: int) -> WebSocketDisconnect:
    message: WebSocketDisconnect = {"reply_channel": reply_channel, "code": code, "path": path, "order": order}
    return message


def _header_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf8")  # the old ASGI form sent text; Daphne (Twisted's Headers) UTF-8-encoded it
    raise ReplyError(f"response header {what} must be bytes, not {type(value).__name__}")


def parse_response(message: dict[str, Any], started: bool) -> tuple[int | None, list[tuple[bytes, bytes]], bytes, bool]:
    """Validate a Response (``started`` False) or Response Chunk: ``(status, headers, content, more_content)``.

    Raises ReplyError for a first message without ``status`` or a later one with it (Daphne's
    ValueErrors), and for ill-typed values.
    """
    if not isinstance(message, dict):
        raise ReplyError(f"HTTP reply must be a dict, not {type(message).__name__}")
    status = message.get("status")
    if started and status is not None:
        raise ReplyError("Got multiple Response messages")
    headers: list[tuple[bytes, bytes]] = []
    if not started:
        if status is None:
            raise ReplyError("Got a Response Chunk before a Response: the first message needs a status")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
            raise ReplyError(f"invalid response status {status!r}")
        for pair in message.get("headers") or ():
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ReplyError(f"response header {pair!r} is not a [name, value] pair")
            name, value = _header_bytes(pair[0], "name"), _header_bytes(pair[1], "value")
            if b"\n" in name or b"\r" in name or b"\n" in value or b"\r" in value or b":" in name:
                raise ReplyError(f"response header {name!r} contains a line break or colon")
            headers.append((name, value))
    content = message.get("content", b"") or b""
    if not isinstance(content, bytes):
        raise ReplyError(f"response content must be bytes, not {type(content).__name__}")
    return status, headers, content, bool(message.get("more_content", False))


def _close_code(value: object) -> int:
    # The wire rule, not the application one: the spec allows "a positive integer" and the
    # server relays any code a close frame may carry (channellayer.messages explains both).
    if value is True:
        return 1000
    if is_wire_close_code(value):
        return value
    raise ReplyError(f"invalid WebSocket close code {value!r}")


def websocket_reply_actions(message: dict[str, Any], connecting: bool) -> list[tuple[WsAction, Any]]:
    """Daphne's ``dispatch_reply`` rules (§2.8) as a list of actions for one WebSocket reply.

    Actions: ``(ACCEPT, None)``, ``(REJECT, None)``, ``(TEXT, str)``, ``(BYTES, bytes)``, ``(CLOSE, code)``
    (:class:`~interfaceserver.lifecycle.WsAction`). Sending while connecting is preceded by an accept; closing while
    connecting is a reject. Raises ReplyError for unknown keys, both text and bytes, or bad types.
    """
    if not isinstance(message, dict):
        raise ReplyError(f"WebSocket reply must be a dict, not {type(message).__name__}")
    unknown = set(message) - _WS_REPLY_KEYS
    if unknown:
        raise ReplyError(
            f"Got invalid WebSocket reply message - contains unknown keys {sorted(unknown)} "
            "(looking for either {'accept', 'text', 'bytes', 'close'})"
        )
    actions: list[tuple[WsAction, Any]] = []
    if message.get("accept") and connecting:
        actions.append((WsAction.ACCEPT, None))
        connecting = False
    if message.get(WsAction.ACCEPT, None) is False and connecting:
        return [(WsAction.REJECT, None)]
    data, text = message.get("bytes"), message.get("text")
    if data and text:
        raise ReplyError("Got invalid WebSocket reply message - contains both bytes and text keys")
    if data and not isinstance(data, bytes):
        raise ReplyError(f"WebSocket 'bytes' must be bytes, not {type(data).__name__}")
    if text and not isinstance(text, str):
        raise ReplyError(f"WebSocket 'text' must be str, not {type(text).__name__}")
    close = message.get(WsAction.CLOSE, False)
    code = _close_code(close) if close else None
    # An empty message is still a message (RFC 6455 allows empty payloads; ASGI 3 servers send it):
    # {"text": ""} sends an empty text frame and {"bytes": b""} an empty binary one. Daphne 1.4.2
    # tested truthiness and dropped both; see docs/interface-server.md.
    if data or text or text == "" or data == b"":
        if connecting:
            actions.append((WsAction.ACCEPT, None))
            connecting = False
        if data:
            actions.append((WsAction.BYTES, data))
        elif text or text == "":
            actions.append((WsAction.TEXT, text))
        else:
            actions.append((WsAction.BYTES, b""))
    if code is not None:
        actions.append((WsAction.REJECT, None) if connecting else (WsAction.CLOSE, code))
    return actions
