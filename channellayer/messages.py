"""The ASGI 1 HTTP and WebSocket messages, typed once for every package, and the WebSocket close-code rules.

Theory of operation
-------------------
Each message that crosses the channel layer between an interface server and a worker is a
``TypedDict`` here, with the keys the ASGI 1 spec (Channels 1.1.8 ``docs/asgi/www.rst``) requires
and the ones it makes optional, as Daphne 1.4.2 sends and accepts them (reference/channels1.md §2
and §4). A worker may receive a message from any ASGI 1 server (ours, a legacy Daphne, asgiref's
WSGI adapter), so optional keys are optional in the type even where our servers always send them.
Each class's required keys come from a private total base class and its optional keys from the
``total=False`` class on top: ``__required_keys__`` and ``__optional_keys__`` then say the same at
run time on every supported Python (3.10 has no ``typing.NotRequired``). These are types only:
nothing validates a message against them, and a message is still a plain ``dict`` on the wire.

Close codes follow two rules, because two different parties choose a code:

* :func:`is_wire_close_code` — a code that may travel in a close frame at all (RFC 6455 §7.4.1
  and §7.4.2 with the IANA registry): 1000-1003, 1007-1014 and 3000-4999. Never 1004 (reserved),
  1005, 1006 or 1015 (only reported locally, never sent), nor an unassigned one. The interface
  server refuses a peer's close frame outside it (closing with 1002) and refuses an application's
  ``close`` reply outside it (the ASGI 1 spec allows "a positive integer"; the server only relays
  what the wire can carry).
* :func:`is_application_close_code` — a code a Channels consumer chooses itself: 1000, or a
  private 3000-4999. Codes 1001-2999 describe the endpoint's own protocol state, so Channels
  1.1.8's ``WebsocketCloseException`` and Autobahn's ``sendClose`` (which Daphne 1.4.2 called)
  allow only these; keeping to them makes a worker's close work behind a legacy Daphne too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict, TypeGuard

__all__ = [
    "APPLICATION_CLOSE_CODES",
    "WIRE_CLOSE_CODES",
    "HttpDisconnect",
    "HttpRequest",
    "HttpRequestBodyChunk",
    "HttpResponse",
    "HttpResponseChunk",
    "Peer",
    "WebSocketConnect",
    "WebSocketDisconnect",
    "WebSocketReceive",
    "WebSocketReply",
    "is_application_close_code",
    "is_wire_close_code",
]

#: ``[host, port]`` as sent in ``client`` and ``server`` (a list: msgpack has no tuples), or None
#: where there is no address (UNIX sockets).
Peer = list[Any] | None
#: Request headers: ``[name, value]`` byte pairs, names lowercased, order and repeats kept.
RequestHeaders = list[list[bytes]]
#: Response headers: ``[name, value]`` pairs in the application's order and case. Text is the
#: old ASGI form, still accepted (UTF-8-encoded, as Twisted's ``Headers`` did for Daphne).
ResponseHeaders = Sequence[Sequence[bytes | str]]


# -- HTTP: server -> application ------------------------------------------------------------------


class _HttpRequestKeys(TypedDict):
    reply_channel: str
    http_version: str
    method: str
    path: str
    query_string: bytes
    headers: RequestHeaders


class HttpRequest(_HttpRequestKeys, total=False):
    """``http.request`` (§2.1). Daphne 1.4.2 sends every key but ``body_channel``, in this order:
    reply_channel, http_version, method, path, root_path, scheme, query_string, headers, body,
    client, server; ours puts ``body_channel`` right after ``body`` when the body is streamed."""

    root_path: str
    scheme: str
    body: bytes
    body_channel: str
    client: Peer
    server: Peer


class HttpRequestBodyChunk(TypedDict, total=False):
    """A Request Body Chunk on the request's ``body_channel`` (§2.2). ``content`` is required unless
    ``closed`` is set; ``closed`` True means the client went away."""

    content: bytes
    closed: bool
    more_content: bool


class HttpDisconnect(TypedDict):
    """``http.disconnect`` (§2.4)."""

    reply_channel: str
    path: str


# -- HTTP: application -> server (on the request's reply_channel) -----------------------------------


class _HttpResponseKeys(TypedDict):
    status: int


class HttpResponse(_HttpResponseKeys, total=False):
    """The first reply to a request (§2.3): a Response is recognised by its ``status``.
    ``status_text`` is accepted and ignored, as by Daphne 1.4.2 (the standard phrase is sent)."""

    headers: ResponseHeaders
    content: bytes
    more_content: bool
    status_text: str | bytes


class HttpResponseChunk(TypedDict, total=False):
    """Every later reply to a request (§2.3): no ``status``; the response ends with ``more_content`` false."""

    content: bytes
    more_content: bool


# -- WebSocket: server -> application -------------------------------------------------------------


class _WebSocketConnectKeys(TypedDict):
    reply_channel: str
    path: str
    headers: RequestHeaders
    order: int


class WebSocketConnect(_WebSocketConnectKeys, total=False):
    """``websocket.connect`` (§2.5), sent during the handshake; ``order`` is 0. Daphne 1.4.2 sends
    no ``scheme`` or ``root_path``, and joins repeated headers with commas."""

    query_string: bytes
    client: Peer
    server: Peer
    scheme: str
    root_path: str


class _WebSocketReceiveKeys(TypedDict):
    reply_channel: str
    path: str
    order: int


class WebSocketReceive(_WebSocketReceiveKeys, total=False):
    """``websocket.receive`` (§2.6): exactly one of ``text`` or ``bytes``; Daphne leaves the other out."""

    text: str
    bytes: bytes


class WebSocketDisconnect(TypedDict):
    """``websocket.disconnect`` (§2.7): ``code`` is the peer's close code (1006 without a close
    frame), ``order`` is one past the last ``websocket.receive``."""

    reply_channel: str
    code: int
    path: str
    order: int


# -- WebSocket: application -> server (on the socket's reply_channel) -------------------------------


class WebSocketReply(TypedDict, total=False):
    """Send/Close/Accept (§2.8), every key optional and no other allowed. ``close`` is True (1000)
    or a code (:func:`is_wire_close_code`); ``accept`` False during the handshake rejects with 403."""

    bytes: bytes | None
    text: str | None
    close: bool | int
    accept: bool


# -- close codes -----------------------------------------------------------------------------------

#: Codes a close frame may carry (RFC 6455 §7.4 and the IANA registry, which added 1012-1014).
WIRE_CLOSE_CODES = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015)) | frozenset(range(3000, 5000))
#: Codes an application chooses itself: normal closure or a private code.
APPLICATION_CLOSE_CODES = frozenset({1000}) | frozenset(range(3000, 5000))


def _is_code(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_wire_close_code(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an int that a close frame may carry (see the module docstring)."""
    return _is_code(value) and value in WIRE_CLOSE_CODES


def is_application_close_code(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an int an application may close with: 1000 or 3000-4999."""
    return _is_code(value) and value in APPLICATION_CLOSE_CODES
